//! `/fed/v1/migrations` refuses bad requests with the right errors before any job exists;
//! a server on a site-local network moves back and forth between two simulated sites.

use crate::testing::TestTop;
use axum::http::{Method, StatusCode};
use fedstack_sim::{Sim, SimConfig};
use fedstack_site_client::{Scope, SiteRequest};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn bad_requests_are_client_errors_and_make_no_job() {
    let t = TestTop::new().await;
    let admin = Some(t.admin_token.as_str());
    let post = |body| t.call(Method::POST, "/fed/v1/migrations", admin, Some(body));
    let a = post(json!({"migration": {"destination": "x"}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body["badRequest"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("server_id"));
    let a = post(json!({"migration": {"server_id": "s", "destination": "x", "bogus": 1}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a =
        post(json!({"migration": {"server_id": "s", "destination": "x", "type": "live"}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = post(json!({"migration": {"server_id": "nope", "destination": "x"}})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "Instance nope could not be found."
    );
    let a = t
        .call(Method::GET, "/fed/v1/migrations/nope", admin, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = t
        .call(Method::POST, "/fed/v1/migrations/nope/cancel", admin, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    for q in ["state=bogus", "limit=0", "limit=x"] {
        let a = t
            .call(Method::GET, &format!("/fed/v1/migrations?{q}"), admin, None)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}: {}", a.body);
    }
    let a = t
        .call(
            Method::GET,
            "/fed/v1/migrations",
            Some(t.demo_token.as_str()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["migrations"], json!([]));
    assert!(t
        .top
        .jobs
        .store()
        .list(&Default::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let t = TestTop::new().await;
    let a = t.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&a.raw).contains("# TYPE fedstack_jobs gauge"));
}

/// Polls `f` every 100 ms for up to 60 s until it gives a value.
async fn eventually<F, Fut, T>(what: &str, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// How many ports site `name` has with `mac` (asked over its Neutron API).
async fn ports_with(t: &TestTop, name: &str, mac: &str) -> usize {
    let site = t
        .top
        .sites
        .all()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap();
    let req = SiteRequest::new(
        Method::GET,
        "network",
        format!("/v2.0/ports?mac_address={mac}"),
        Scope::Admin,
    );
    site.client.json(req).await.unwrap()["ports"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn a_server_on_a_site_network_moves_there_and_back_and_leaves_no_port_behind() {
    let mut cfg = SimConfig::with_sites(2);
    cfg.timing.build_ms = 20;
    cfg.timing.action_ms = 10;
    cfg.timing.image_ms = 10;
    let sim = Sim::start(cfg).await.unwrap();
    let t = TestTop::new().await;
    for s in &sim.sites {
        t.register_site(&s.site.name, &s.site.auth_url()).await;
    }
    t.top.spawn_loops();
    let demo = Some(t.demo_token.as_str());
    let img = t
        .call(
            Method::POST,
            "/image/v2/images",
            demo,
            Some(json!({"name": "base", "disk_format": "raw", "container_format": "bare"})),
        )
        .await;
    assert_eq!(img.status, StatusCode::CREATED, "{}", img.body);
    let image = img.body["id"].as_str().unwrap().to_string();
    let up = t
        .call_raw(
            Method::PUT,
            &format!("/image/v2/images/{image}/file"),
            demo,
            &[],
            vec![7u8; 4096],
            "application/octet-stream",
        )
        .await;
    assert_eq!(up.status, StatusCode::NO_CONTENT, "{}", up.body);
    let names: Vec<String> = sim.sites.iter().map(|s| s.site.name.clone()).collect();
    // No top network: the server gets the site's own `private` network.
    let body = json!({"server": {"name": "local", "imageRef": image, "flavorRef": "1",
        "networks": "auto", "availability_zone": names[0]}});
    let made = t
        .call_raw(
            Method::POST,
            "/compute/v2.1/servers",
            demo,
            &[("openstack-api-version", "compute 2.52")],
            serde_json::to_vec(&body).unwrap(),
            "application/json",
        )
        .await;
    assert_eq!(made.status, StatusCode::ACCEPTED, "{}", made.body);
    let id = made.body["server"]["id"].as_str().unwrap().to_string();
    let show = || async {
        t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            demo,
            None,
        )
        .await
        .body["server"]
            .clone()
    };
    let first: Value = eventually("the server ACTIVE", || async {
        let s = show().await;
        (s["status"] == "ACTIVE").then_some(s)
    })
    .await;
    let addr = first["addresses"]["private"][0].clone();
    let mac = addr["OS-EXT-IPS-MAC:mac_addr"]
        .as_str()
        .unwrap()
        .to_string();
    for to in [1, 0, 1] {
        let m = t
            .call(
                Method::POST,
                "/fed/v1/migrations",
                demo,
                Some(json!({"migration": {"server_id": id, "destination": names[to]}})),
            )
            .await;
        assert_eq!(m.status, StatusCode::ACCEPTED, "{}", m.body);
        let mid = m.body["migration"]["id"].as_str().unwrap().to_string();
        let end = eventually("the migration to end", || async {
            let m = t
                .call(
                    Method::GET,
                    &format!("/fed/v1/migrations/{mid}"),
                    demo,
                    None,
                )
                .await
                .body["migration"]
                .clone();
            (!matches!(
                m["state"].as_str(),
                Some("queued" | "running" | "rolling_back")
            ))
            .then_some(m)
        })
        .await;
        assert_eq!(end["state"], "done", "to {}: {}", names[to], end["error"]);
        let s = show().await;
        assert_eq!(s["OS-EXT-AZ:availability_zone"], names[to].as_str());
        assert_eq!(s["addresses"]["private"][0], addr, "same address and MAC");
        assert_eq!(ports_with(&t, &names[to], &mac).await, 1);
        let from = &names[1 - to];
        assert_eq!(
            ports_with(&t, from, &mac).await,
            0,
            "the source keeps no port"
        );
    }
    let gone = t
        .call(
            Method::DELETE,
            &format!("/compute/v2.1/servers/{id}"),
            demo,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    eventually(
        "the port made by the migration gone with the server",
        || async {
            let left = ports_with(&t, &names[1], &mac).await;
            (left == 0).then_some(())
        },
    )
    .await;
}
