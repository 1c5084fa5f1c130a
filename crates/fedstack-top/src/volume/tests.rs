//! Cinder at the top against real simulated sites (in-process top, sites over HTTP).

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
    cfg.timing.volume_ms = 20;
    let sim = Sim::start(cfg).await.unwrap();
    let t = TestTop::new().await;
    for s in &sim.sites {
        t.register_site(&s.site.name, &s.site.auth_url()).await;
    }
    t.top.spawn_loops();
    Bed { t, sim }
}

impl Bed {
    async fn volume(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let raw = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let a = self
            .t
            .call_raw(
                method,
                &format!("/volume/v3{path}"),
                Some(token),
                &[("openstack-api-version", "volume 3.71")],
                raw,
                "application/json",
            )
            .await;
        (a.status, a.body)
    }

    async fn create_volume(&self, token: &str, body: Value) -> Value {
        let (status, v) = self
            .volume(
                Method::POST,
                "/volumes",
                token,
                Some(json!({ "volume": body })),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let id = v["volume"]["id"].as_str().unwrap().to_string();
        self.wait_volume(token, &id, "available").await
    }

    async fn wait_volume(&self, token: &str, id: &str, want: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..100 {
            let (_, v) = self
                .volume(Method::GET, &format!("/volumes/{id}"), token, None)
                .await;
            if v["volume"]["status"] == want {
                return v["volume"].clone();
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("volume {id} never reached {want}: {last}");
    }
}

#[tokio::test]
async fn volumes_live_in_their_zone_under_top_ids_and_lists_come_from_the_index() {
    let b = bed(2).await;
    let demo = b.t.demo_token.clone();
    let v = b
        .create_volume(&demo, json!({"size": 1, "name": "data", "availability_zone": "CloudTwo", "metadata": {"k": "v"}}))
        .await;
    let id = v["id"].as_str().unwrap();
    assert_eq!(v["availability_zone"], "CloudTwo");
    assert_eq!(
        v["metadata"],
        json!({"k": "v"}),
        "the routing marker is never shown"
    );
    assert_eq!(v["volume_type"], "__DEFAULT__");
    let route = b.t.top.store.route("volume", id).await.unwrap().unwrap();
    assert_ne!(
        route.site_resource_id.as_deref(),
        Some(id),
        "the site has its own ID"
    );
    let (_, listed) = b.volume(Method::GET, "/volumes/detail", &demo, None).await;
    let ids: Vec<&str> = listed["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, [id]);
    let old =
        b.t.call(
            Method::GET,
            &format!("/volume/v3/volumes/{id}"),
            Some(&demo),
            None,
        )
        .await
        .body;
    assert!(
        old["volume"].get("volume_type_id").is_none(),
        "3.0 has no volume_type_id: {old}"
    );
    // Another tenant sees nothing of it.
    let admin = b.t.admin_token.clone();
    let (status, e) = b
        .volume(Method::GET, &format!("/volumes/{id}"), &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "admins see every volume: {e}");
    let other = b.t.token("admin", "demo").await;
    let (_, mine) = b.volume(Method::GET, "/volumes", &other, None).await;
    assert_eq!(mine["volumes"].as_array().unwrap().len(), 1);
    // Bad input is Cinder's 400.
    for bad in [
        json!({"volume": "x"}),
        json!({}),
        json!({"volume": {"size": 1, "availability_zone": "Nowhere"}}),
    ] {
        let (status, e) = b.volume(Method::POST, "/volumes", &demo, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["badRequest"]["message"].is_string(), "{e}");
    }
    let (status, _) = b
        .volume(Method::DELETE, &format!("/volumes/{id}"), &demo, None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, e) = b
        .volume(Method::GET, &format!("/volumes/{id}"), &demo, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        e["itemNotFound"]["message"],
        format!("Volume {id} could not be found.")
    );
}

#[tokio::test]
async fn a_down_site_keeps_volumes_listed_and_refuses_writes_naming_it() {
    let b = bed(2).await;
    let demo = b.t.demo_token.clone();
    let v = b
        .create_volume(&demo, json!({"size": 1, "availability_zone": "CloudOne"}))
        .await;
    let id = v["id"].as_str().unwrap();
    b.sim
        .set_down("CloudOne", Some(DownMode::Refuse))
        .await
        .unwrap();
    health::check(&b.t.top.sites.find("CloudOne").unwrap()).await;
    let (_, listed) = b.volume(Method::GET, "/volumes/detail", &demo, None).await;
    assert_eq!(listed["volumes"][0]["status"], "unknown");
    let (status, shown) = b
        .volume(Method::GET, &format!("/volumes/{id}"), &demo, None)
        .await;
    assert_eq!(
        (status, &shown["volume"]["status"]),
        (StatusCode::OK, &json!("unknown"))
    );
    let (status, e) = b
        .volume(Method::DELETE, &format!("/volumes/{id}"), &demo, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(e.to_string().contains("CloudOne"), "{e}");
    b.sim.set_down("CloudOne", None).await.unwrap();
}

#[tokio::test]
async fn snapshots_and_clones_follow_their_volume_and_types_are_made_on_demand() {
    let b = bed(2).await;
    let demo = b.t.demo_token.clone();
    let admin = b.t.admin_token.clone();
    let (status, t) = b
        .volume(
            Method::POST,
            "/types",
            &admin,
            Some(json!({"volume_type": {"name": "fast", "extra_specs": {"tier": "gold"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let (status, _) = b
        .volume(
            Method::POST,
            "/types",
            &demo,
            Some(json!({"volume_type": {"name": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, types) = b.volume(Method::GET, "/types", &demo, None).await;
    let names: Vec<&str> = types["volume_types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["__DEFAULT__", "fast"]);
    let v = b
        .create_volume(
            &demo,
            json!({"size": 1, "volume_type": "fast", "availability_zone": "CloudTwo"}),
        )
        .await;
    assert_eq!(v["volume_type"], "fast");
    assert_eq!(v["volume_type_id"], t["volume_type"]["id"]);
    let vid = v["id"].as_str().unwrap();
    let (status, s) = b
        .volume(
            Method::POST,
            "/snapshots",
            &demo,
            Some(json!({"snapshot": {"volume_id": vid, "name": "snap"}})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{s}");
    assert_eq!(s["snapshot"]["volume_id"], vid);
    let sid = s["snapshot"]["id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let (_, s) = b
            .volume(Method::GET, &format!("/snapshots/{sid}"), &demo, None)
            .await;
        if s["snapshot"]["status"] == "available" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, listed) = b.volume(Method::GET, "/snapshots", &demo, None).await;
    assert_eq!(listed["snapshots"][0]["volume_id"], vid);
    assert_eq!(listed["snapshots"][0]["status"], "available");
    assert!(
        listed["snapshots"][0].get("user_id").is_none(),
        "the summary view: {listed}"
    );
    let clone = b
        .create_volume(&demo, json!({"size": 1, "snapshot_id": sid}))
        .await;
    assert_eq!(
        clone["availability_zone"], "CloudTwo",
        "made next to its snapshot"
    );
    assert_eq!(clone["snapshot_id"], sid.as_str());
    let (status, e) = b
        .volume(Method::POST, "/volumes", &demo, Some(json!({"volume": {"size": 1, "source_volid": vid, "availability_zone": "CloudOne"}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let msg = e["badRequest"]["message"].as_str().unwrap();
    assert!(
        msg.contains("CloudTwo") && msg.contains("CloudOne"),
        "{msg}"
    );
}

#[tokio::test]
async fn attachments_translate_ids_and_refuse_another_site() {
    let b = bed(2).await;
    let demo = b.t.demo_token.clone();
    let here = b
        .create_volume(&demo, json!({"size": 1, "availability_zone": "CloudOne"}))
        .await;
    let there = b
        .create_volume(&demo, json!({"size": 1, "availability_zone": "CloudTwo"}))
        .await;
    // No zone asked: the server goes to its root volume's site.
    let server = json!({"server": {"name": "vm", "flavorRef": "1", "networks": "auto",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": here["id"], "source_type": "volume", "destination_type": "volume"}]}});
    let a =
        b.t.call_raw(
            Method::POST,
            "/compute/v2.1/servers",
            Some(&demo),
            &[("openstack-api-version", "compute 2.52")],
            serde_json::to_vec(&server).unwrap(),
            "application/json",
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let sid = a.body["server"]["id"].as_str().unwrap().to_string();
    let in_use = b
        .wait_volume(&demo, here["id"].as_str().unwrap(), "in-use")
        .await;
    assert_eq!(in_use["attachments"][0]["server_id"], sid.as_str());
    let a =
        b.t.call(
            Method::POST,
            &format!("/compute/v2.1/servers/{sid}/os-volume_attachments"),
            Some(&demo),
            Some(json!({"volumeAttachment": {"volumeId": there["id"]}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let msg = a.body["badRequest"]["message"].as_str().unwrap();
    assert!(
        msg.contains("CloudOne") && msg.contains("CloudTwo"),
        "{msg}"
    );
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{sid}/os-volume_attachments"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(
        a.body["volumeAttachments"][0]["volumeId"], here["id"],
        "{}",
        a.body
    );
    let a =
        b.t.call(
            Method::GET,
            &format!("/compute/v2.1/servers/{sid}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(a.body["server"]["OS-EXT-AZ:availability_zone"], "CloudOne");
    assert_eq!(
        a.body["server"]["os-extended-volumes:volumes_attached"][0]["id"],
        here["id"]
    );
    // A volume of another project is not found, whatever its site.
    let other = b.t.token("admin", "admin").await;
    let mine = b
        .create_volume(&other, json!({"size": 1, "availability_zone": "CloudOne"}))
        .await;
    let a =
        b.t.call(
            Method::POST,
            &format!("/compute/v2.1/servers/{sid}/os-volume_attachments"),
            Some(&demo),
            Some(json!({"volumeAttachment": {"volumeId": mine["id"]}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
}
