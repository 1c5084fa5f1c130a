//! The top's compute against real simulated sites (in-process top, sites over HTTP).

use crate::sites::health;
use crate::testing::TestTop;
use axum::http::{Method, StatusCode};
use fedstack_sim::faults::DownMode;
use fedstack_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

struct Bed {
    t: TestTop,
    sim: Arc<Sim>,
}

async fn bed(sites: usize) -> Bed {
    let mut cfg = SimConfig::with_sites(sites);
    cfg.timing.build_ms = 50;
    cfg.timing.action_ms = 20;
    let sim = Sim::start(cfg).await.unwrap();
    let t = TestTop::new().await;
    for s in &sim.sites {
        t.register_site(&s.site.name, &s.site.auth_url()).await;
    }
    t.top.spawn_loops();
    Bed { t, sim }
}

fn mv(v: &str) -> (&'static str, String) {
    ("openstack-api-version", format!("compute {v}"))
}

async fn create(b: &Bed, token: &str, body: Value) -> (StatusCode, Value) {
    let (h, v) = mv("2.52");
    let a =
        b.t.call_raw(
            Method::POST,
            "/compute/v2.1/servers",
            Some(token),
            &[(h, &v)],
            serde_json::to_vec(&body).unwrap(),
            "application/json",
        )
        .await;
    (a.status, a.body)
}

async fn wait_status(b: &Bed, token: &str, id: &str, want: &str) -> Value {
    for _ in 0..100 {
        let a =
            b.t.call(
                Method::GET,
                &format!("/compute/v2.1/servers/{id}"),
                Some(token),
                None,
            )
            .await;
        if a.body["server"]["status"] == want {
            return a.body["server"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            Some(token),
            None,
        )
        .await;
    panic!("server {id} never reached {want}: {} {}", a.status, a.body);
}

fn server(name: &str, az: Option<&str>) -> Value {
    let mut s = json!({"name": name, "imageRef": "", "flavorRef": "1", "networks": "auto"});
    if let Some(az) = az {
        s["availability_zone"] = json!(az);
    }
    json!({ "server": s })
}

/// An image uploaded to the top (on-demand: copied to a site at its first boot there).
async fn uploaded(b: &Bed) -> String {
    let demo = b.t.demo_token.clone();
    let a =
        b.t.call(
            Method::POST,
            "/image/v2/images",
            Some(&demo),
            Some(json!({"name": "top-image", "disk_format": "raw", "container_format": "bare"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    let a =
        b.t.call_raw(
            Method::PUT,
            &format!("/image/v2/images/{id}/file"),
            Some(&demo),
            &[],
            vec![7u8; 4096],
            "application/octet-stream",
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    id
}

#[tokio::test]
async fn servers_land_in_the_asked_zone_and_keep_their_top_id() {
    let b = bed(2).await;
    let image = uploaded(&b).await;
    let demo = b.t.demo_token.clone();
    let mut body = server("vm-a", Some("CloudTwo"));
    body["server"]["imageRef"] = json!(image);
    body["server"]["metadata"] = json!({"role": "web"});
    let (status, created) = create(&b, &demo, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    assert!(created["server"]["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:8000/compute/v2.1/servers/"));
    let s = wait_status(&b, &demo, &id, "ACTIVE").await;
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["OS-EXT-AZ:availability_zone"], "CloudTwo");
    assert_eq!(
        s["metadata"],
        json!({"role": "web"}),
        "the routing marker is hidden"
    );
    assert_eq!(
        s["tenant_id"],
        b.t.top
            .store
            .project_by_name("demo")
            .await
            .unwrap()
            .unwrap()
            .id
    );
    // The server is really on CloudTwo, in the tenant's own project there.
    let route = b.t.top.store.route("server", &id).await.unwrap().unwrap();
    let site =
        b.t.top
            .sites
            .get(route.site_id.as_deref().unwrap())
            .unwrap();
    assert_eq!(site.name(), "CloudTwo");
    // Lists come from the index; admin's project sees nothing of demo's.
    let a =
        b.t.call(Method::GET, "/compute/v2.1/servers", Some(&demo), None)
            .await;
    assert_eq!(a.body["servers"][0]["id"], id.as_str());
    let a =
        b.t.call(
            Method::GET,
            "/compute/v2.1/servers",
            Some(&b.t.admin_token.clone()),
            None,
        )
        .await;
    assert!(a.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["id"] != id.as_str()));
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            Some(&b.t.admin_token.clone()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "admins may show any server");
    // Stop and start through the top.
    let a =
        b.t.call(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            Some(&demo),
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    wait_status(&b, &demo, &id, "SHUTOFF").await;
    // Delete: gone from show and lists.
    let a =
        b.t.call(
            Method::DELETE,
            &format!("/compute/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        format!("Instance {id} could not be found.")
    );
}

#[tokio::test]
async fn a_down_site_keeps_its_servers_listed_as_unknown_and_refuses_writes() {
    let b = bed(2).await;
    let image = uploaded(&b).await;
    let demo = b.t.demo_token.clone();
    let mut body = server("vm-down", Some("CloudOne"));
    body["server"]["imageRef"] = json!(image);
    let (_, created) = create(&b, &demo, body.clone()).await;
    let id = created["server"]["id"].as_str().unwrap().to_string();
    wait_status(&b, &demo, &id, "ACTIVE").await;
    b.sim
        .set_down("CloudOne", Some(DownMode::Refuse))
        .await
        .unwrap();
    let site = b.t.top.sites.find("CloudOne").unwrap();
    health::check(&site).await;
    let a =
        b.t.call(
            Method::GET,
            "/compute/v2.1/servers/detail",
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let listed = a.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["status"], "UNKNOWN");
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(
        a.body["server"]["status"], "UNKNOWN",
        "show falls back to the last known record"
    );
    let (status, err) = create(&b, &demo, body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        err["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("CloudOne"),
        "{err}"
    );
    let a =
        b.t.call(
            Method::POST,
            &format!("/compute/v2.1/servers/{id}/action"),
            Some(&demo),
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    b.sim.set_down("CloudOne", None).await.unwrap();
}

#[tokio::test]
async fn anti_affinity_spreads_over_sites_and_no_fit_is_no_valid_host() {
    let b = bed(2).await;
    let image = uploaded(&b).await;
    let demo = b.t.demo_token.clone();
    let a =
        b.t.call(
            Method::POST,
            "/compute/v2.1/os-server-groups",
            Some(&demo),
            Some(json!({"server_group": {"name": "spread", "policies": ["anti-affinity"]}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let group = a.body["server_group"]["id"].as_str().unwrap().to_string();
    let mut sites = Vec::new();
    for i in 0..3 {
        let mut body = server(&format!("spread-{i}"), None);
        body["server"]["imageRef"] = json!(image);
        body["os:scheduler_hints"] = json!({"group": group});
        let (_, created) = create(&b, &demo, body).await;
        let id = created["server"]["id"].as_str().unwrap().to_string();
        let s = wait_status(&b, &demo, &id, if i < 2 { "ACTIVE" } else { "ERROR" }).await;
        sites.push(
            s["OS-EXT-AZ:availability_zone"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        if i == 2 {
            assert_eq!(
                s["fault"]["message"],
                "No valid host was found. There are not enough hosts available."
            );
        }
    }
    assert_ne!(sites[0], sites[1], "two members on two distinct sites");
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/os-server-groups/{group}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(
        a.body["server_group"]["members"].as_array().unwrap().len(),
        3
    );
}

#[tokio::test]
async fn bad_requests_answer_like_nova() {
    let b = bed(1).await;
    let demo = b.t.demo_token.clone();
    let (status, e) = create(&b, &demo, json!({"server": {"imageRef": "00000000-0000-0000-0000-000000000000", "flavorRef": "1", "networks": "auto"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["badRequest"]["message"], "Invalid input for field/attribute server. Value: {'imageRef': '00000000-0000-0000-0000-000000000000', 'flavorRef': '1', 'networks': 'auto'}. 'name' is a required property");
    let (status, e) = create(&b, &demo, json!({"server": {"name": "x", "imageRef": "00000000-0000-0000-0000-000000000000", "flavorRef": "nope", "networks": "auto"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["badRequest"]["message"],
        "Flavor nope could not be found."
    );
    let (status, e) = create(&b, &demo, json!({"server": {"name": "x", "imageRef": "00000000-0000-0000-0000-000000000000", "flavorRef": "1", "networks": "auto"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(e["badRequest"]["message"], "Can not find requested image");
    let a =
        b.t.call_raw(
            Method::POST,
            "/compute/v2.1/servers",
            Some(&demo),
            &[],
            b"{oops".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["badRequest"]["message"], "Malformed request body");
    let a =
        b.t.call(
            Method::GET,
            "/compute/v2.1/servers?marker=nope",
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.body["badRequest"]["message"], "marker [nope] not found");
    let a =
        b.t.call(Method::GET, "/compute/v2.1/servers", None, None)
            .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a =
        b.t.call(
            Method::GET,
            "/compute/v2.1/servers?all_tenants=1",
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_global_instance_quota_holds_under_concurrent_creates_over_sites() {
    let b = bed(3).await;
    let image = uploaded(&b).await;
    let demo = b.t.demo_token.clone();
    let admin = b.t.admin_token.clone();
    let project =
        b.t.top
            .store
            .project_by_name("demo")
            .await
            .unwrap()
            .unwrap()
            .id;
    // A member may not change quotas; an admin may.
    let put = |token: String, limit: i64| {
        let b = &b;
        let project = project.clone();
        async move {
            b.t.call(
                Method::PUT,
                &format!("/compute/v2.1/os-quota-sets/{project}"),
                Some(&token),
                Some(json!({"quota_set": {"instances": limit}})),
            )
            .await
        }
    };
    assert_eq!(put(demo.clone(), 5).await.status, StatusCode::FORBIDDEN);
    let a = put(admin.clone(), 5).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["quota_set"]["instances"], 5);
    // More creates than the quota, at once, spread over three sites (each site's own
    // per-project quota, 10 by default in Nova, is lifted by the top).
    let creates: Vec<_> = (0..12)
        .map(|i| {
            let mut body = server(&format!("q-{i}"), None);
            body["server"]["imageRef"] = json!(image);
            create(&b, &demo, body)
        })
        .collect();
    let answers = futures::future::join_all(creates).await;
    let made: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, v)| v)
        .collect();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::FORBIDDEN)
        .map(|(_, v)| v)
        .collect();
    assert_eq!((made.len(), refused.len()), (5, 7), "{answers:?}");
    assert_eq!(
        refused[0]["forbidden"]["message"],
        "Quota exceeded for instances: Requested 1, but already used 5 of 5 instances"
    );
    // Usage is counted from the index once the creates are done.
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}/detail"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(
        a.body["quota_set"]["instances"],
        json!({"limit": 5, "in_use": 5, "reserved": 0})
    );
    assert_eq!(a.body["quota_set"]["cores"]["in_use"], 5);
    let a =
        b.t.call(Method::GET, "/compute/v2.1/limits", Some(&demo), None)
            .await;
    assert_eq!(a.body["limits"]["absolute"]["totalInstancesUsed"], 5);
    assert_eq!(a.body["limits"]["absolute"]["maxTotalInstances"], 5);
    // Lowering below usage is refused like Nova does, unless forced.
    let a = put(admin.clone(), 4).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body["badRequest"]["message"],
        "Quota limit 4 for instances must be greater than or equal to already used and reserved 5."
    );
    // Deleting a server frees its room.
    let id = made[0]["server"]["id"].as_str().unwrap();
    wait_status(&b, &demo, id, "ACTIVE").await;
    let a =
        b.t.call(
            Method::DELETE,
            &format!("/compute/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    let mut body = server("q-again", None);
    body["server"]["imageRef"] = json!(image);
    let mut status = StatusCode::FORBIDDEN;
    for _ in 0..100 {
        (status, _) = create(&b, &demo, body.clone()).await;
        if status == StatusCode::ACCEPTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::ACCEPTED);
    // Back to the defaults.
    let a =
        b.t.call(
            Method::DELETE,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/os-quota-sets/{project}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.body["quota_set"]["instances"], 10);
}
