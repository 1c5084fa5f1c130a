//! Behaviour of the simulated Cinder against the captured samples
//! (`../shared/openstack-samples/block-storage`).

use crate::config::Timing;
use crate::image::BootImage;
use crate::testing::{Answer, TestSite};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::{json, Value};

/// The response body of a captured sample (`block-storage/NNN-...`).
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/openstack-samples/block-storage/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("sample JSON");
    v["response"]["body"].clone()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Asserts that `got` has exactly the keys of `want`, in the same order.
#[track_caller]
fn same_keys(want: &Value, got: &Value) {
    assert_eq!(keys(want), keys(got), "got {got}");
}

/// A Cinder client of one project: calls `/volume/v3/{project}{path}`.
struct Client<'a> {
    t: &'a TestSite,
    token: String,
    project: String,
}

impl<'a> Client<'a> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        mv: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let header = mv.map(|v| format!("volume {v}"));
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("openstack-api-version", h.as_str()))
            .collect();
        let url = format!("/volume/v3/{}{path}", self.project);
        self.t
            .call(method, &url, Some(&self.token), &headers, body)
            .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, None).await
    }

    async fn get_mv(&self, path: &str, mv: &str) -> Answer {
        self.call(Method::GET, path, Some(mv), None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// Creates a volume and returns its ID.
    async fn create_volume(&self, body: Value) -> String {
        let a = self.post("/volumes", json!({ "volume": body })).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        a.body["volume"]["id"].as_str().expect("id").to_string()
    }
}

fn project_id(t: &TestSite, name: &str) -> String {
    let g = t.site.data.lock();
    g.identity
        .project_by_name(name)
        .map(|p| p.id.clone())
        .expect("project")
}

fn demo(t: &TestSite) -> Client<'_> {
    Client {
        t,
        token: t.demo_token.clone(),
        project: project_id(t, "demo"),
    }
}

fn admin(t: &TestSite) -> Client<'_> {
    Client {
        t,
        token: t.admin_token.clone(),
        project: project_id(t, "admin"),
    }
}

/// Delays long enough that transitional states stay visible during a test.
fn slow() -> Timing {
    Timing {
        build_ms: 0,
        action_ms: 0,
        volume_ms: 60_000,
        image_ms: 0,
    }
}

fn boot_image(data: &'static [u8]) -> BootImage {
    BootImage {
        id: "img-1".into(),
        name: "cirros".into(),
        data: Bytes::from_static(data),
        size: data.len() as u64,
        min_disk: 0,
        min_ram: 0,
        disk_format: "qcow2".into(),
        container_format: "bare".into(),
        properties: serde_json::Map::new(),
    }
}

fn demo_project(t: &TestSite) -> String {
    project_id(t, "demo")
}

#[tokio::test]
async fn nova_contract_boot_attach_detach_delete() {
    let t = TestSite::new().await;
    let project = demo_project(&t);
    let mut g = t.site.data.lock();
    let v = &mut g.volume;
    let img = boot_image(b"bootable bytes");
    let id = v
        .create_for_boot(&project, 1, Some(&img), "boot")
        .expect("created");
    assert_eq!(v.volume_data(&id).as_deref(), Some(&b"bootable bytes"[..]));
    let att = v
        .attach(&project, &id, "server-1", "host-1", "/dev/vda")
        .expect("attached");
    assert!(!att.is_empty());
    let again = v
        .attach(&project, &id, "server-2", "host-1", "/dev/vdb")
        .expect_err("in-use volume");
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body()["badRequest"]["code"], 400);
    v.detach(&id, "server-1").expect("detached");
    v.attach(&project, &id, "server-2", "host-1", "/dev/vdb")
        .expect("available again after detach");
    v.delete_for_server(&id);
    assert!(v.volume_data(&id).is_none());
}

#[tokio::test]
async fn nova_contract_refuses_unknown_and_foreign_volumes() {
    let t = TestSite::new().await;
    let project = demo_project(&t);
    let mut g = t.site.data.lock();
    let v = &mut g.volume;
    let e = v
        .attach(&project, "nope", "server-1", "host-1", "/dev/vdb")
        .expect_err("unknown");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert_eq!(
        e.body()["itemNotFound"]["message"],
        "Volume nope could not be found."
    );
    let id = v
        .create_for_boot(&project, 1, None, "blank")
        .expect("created");
    assert_eq!(v.volume_data(&id).as_deref(), Some(&b""[..]));
    let e = v
        .attach("other-project", &id, "server-1", "host-1", "/dev/vdb")
        .expect_err("foreign");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    let big = BootImage {
        size: 3 << 30,
        ..boot_image(b"x")
    };
    let e = v
        .create_for_boot(&project, 1, Some(&big), "small")
        .expect_err("image larger than volume");
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    let e = v
        .create_for_boot(&project, 5000, None, "huge")
        .expect_err("over gigabytes quota");
    assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        e.body()["overLimit"]["message"],
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 5000G, quota is 1000G and 1G has been consumed."
    );
}

#[tokio::test]
async fn version_documents() {
    let t = TestSite::new().await;
    let a = t.call(Method::GET, "/volume", None, &[], None).await;
    assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
    same_keys(
        &sample("001-versions")["versions"][0],
        &a.body["versions"][0],
    );
    assert_eq!(a.body["versions"][0]["version"], "3.71");
    assert_eq!(
        a.body["versions"][0]["links"][1]["href"],
        "http://127.0.0.1:5000/volume/v3/"
    );
    let a = t.call(Method::GET, "/volume/v3", None, &[], None).await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.headers["location"], "http://127.0.0.1:5000/volume/v3/");
    let a = t.call(Method::GET, "/volume/v3/", None, &[], None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers.get("openstack-api-version").is_none());
    assert_eq!(a.body, sample("002-version-v3-no-token"));
    let a = t.get("/volume/v3/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["openstack-api-version"], "volume 3.0");
}

#[tokio::test]
async fn volume_lifecycle_matches_samples() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let a = c.get("/volumes").await;
    assert_eq!(a.body, sample("005-volumes-list-empty"));
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "name": "capture-vol", "description": "capture volume", "metadata": {"purpose": "capture"}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.headers["openstack-api-version"], "volume 3.0");
    assert!(a.headers.contains_key("x-compute-request-id"));
    same_keys(&sample("009-volumes-create")["volume"], &a.body["volume"]);
    assert_eq!(a.body["volume"]["status"], "creating");
    assert_eq!(a.body["volume"]["volume_type"], "__DEFAULT__");
    assert_eq!(a.body["volume"]["bootable"], "false");
    let id = a.body["volume"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        a.body["volume"]["links"][0]["href"],
        format!("http://127.0.0.1:5000/volume/v3/{}/volumes/{id}", c.project)
    );
    assert_eq!(
        a.body["volume"]["links"][1]["href"],
        format!("http://127.0.0.1:5000/volume/{}/volumes/{id}", c.project)
    );

    let a = c.get(&format!("/volumes/{id}")).await;
    same_keys(
        &sample("011-volumes-show-available")["volume"],
        &a.body["volume"],
    );
    assert_eq!(a.body["volume"]["status"], "available");
    assert_eq!(a.body["volume"]["os-vol-tenant-attr:tenant_id"], c.project);
    assert!(a.body["volume"]["created_at"]
        .as_str()
        .is_some_and(|s| s.ends_with(".000000")));
    let a = c.get_mv(&format!("/volumes/{id}"), "3.71").await;
    same_keys(
        &sample("012-volumes-show-available-mv3.71")["volume"],
        &a.body["volume"],
    );
    assert_eq!(a.body["volume"]["shared_targets"], false);
    assert!(a.body["volume"]["service_uuid"].is_string());

    let a = c
        .call(
            Method::POST,
            "/volumes",
            Some("3.71"),
            Some(json!({"volume": {"size": 1, "name": "capture-vol-2"}})),
        )
        .await;
    same_keys(
        &sample("013-volumes-create-mv3.71")["volume"],
        &a.body["volume"],
    );
    assert_eq!(a.body["volume"]["shared_targets"], true);
    assert_eq!(a.body["volume"]["service_uuid"], Value::Null);
    let second = a.body["volume"]["id"].as_str().expect("id").to_string();

    let a = c.get("/volumes").await;
    let list = a.body["volumes"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], second.as_str(), "newest first");
    same_keys(&sample("014-volumes-list")["volumes"][0], &list[0]);

    let a = c.get("/volumes/detail?limit=1").await;
    same_keys(&sample("016-volumes-detail-limit-1"), &a.body);
    assert_eq!(
        a.body["volumes_links"][0]["href"],
        format!(
            "http://127.0.0.1:5000/volume/v3/{}/volumes/detail?limit=1&marker={second}",
            c.project
        )
    );
    let a = c
        .get(&format!("/volumes/detail?limit=1&marker={second}"))
        .await;
    assert_eq!(a.body["volumes"][0]["id"], id.as_str());
    let a = c.get_mv("/volumes/detail?with_count=true", "3.71").await;
    same_keys(&sample("017-volumes-detail-with-count-mv3.71"), &a.body);
    assert_eq!(a.body["count"], 2);
    same_keys(
        &sample("017-volumes-detail-with-count-mv3.71")["volumes"][0],
        &a.body["volumes"][0],
    );
    let a = c.get("/volumes/detail?name=capture-vol").await;
    assert_eq!(a.body["volumes"].as_array().map(Vec::len), Some(1));
    let a = c
        .get("/volumes/detail?metadata=%7B%27purpose%27%3A+%27capture%27%7D")
        .await;
    assert_eq!(a.body["volumes"][0]["id"], id.as_str());
    let a = c.get("/volumes?sort=name:asc").await;
    assert_eq!(a.body["volumes"][0]["id"], id.as_str());

    let a = c
        .call(
            Method::PUT,
            &format!("/volumes/{second}"),
            None,
            Some(json!({"volume": {"name": "capture-vol-2-renamed", "description": "renamed"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(&sample("018-volumes-update")["volume"], &a.body["volume"]);
    assert_eq!(a.body["volume"]["name"], "capture-vol-2-renamed");

    let a = c
        .post(
            &format!("/volumes/{id}/metadata"),
            json!({"metadata": {"stage": "two"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, sample("019-volumes-metadata-update"));

    let a = c
        .post(
            &format!("/volumes/{second}/action"),
            json!({"os-extend": {"new_size": 1}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, sample("020-volumes-action-extend-smaller"));
    let a = c
        .post(
            &format!("/volumes/{second}/action"),
            json!({"os-extend": {"new_size": 2}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.raw.len(), 0);
    let a = c.get(&format!("/volumes/{second}")).await;
    assert_eq!(a.body["volume"]["status"], "available");
    assert_eq!(a.body["volume"]["size"], 2);

    let a = c
        .call(Method::DELETE, &format!("/volumes/{second}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");
    let a = c.get(&format!("/volumes/{second}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        format!("Volume {second} could not be found.")
    );
}

#[tokio::test]
async fn transitional_states_stay_until_their_time() {
    let t = TestSite::with_timing(slow()).await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "creating");
    same_keys(
        &sample("010-volumes-show-creating")["volume"],
        &a.body["volume"],
    );
    assert_eq!(a.body["volume"]["updated_at"], Value::Null);
    let a = c
        .post("/snapshots", json!({"snapshot": {"volume_id": id}}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "not scheduled yet");
    let a = c
        .call(Method::DELETE, &format!("/volumes/{id}"), None, None)
        .await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "creating is not deletable"
    );
}

#[tokio::test]
async fn deleting_then_gone() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let t2 = TestSite::with_timing(slow()).await;
    let c2 = demo(&t2);
    let slow_id = t2
        .site
        .data
        .lock()
        .volume
        .create_for_boot(&c2.project, 1, None, "v")
        .expect("created");
    let a = c2
        .call(Method::DELETE, &format!("/volumes/{slow_id}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c2.get(&format!("/volumes/{slow_id}")).await;
    assert_eq!(a.body["volume"]["status"], "deleting");
    same_keys(
        &sample("056-volumes-show-deleting")["volume"],
        &a.body["volume"],
    );
    let a = c
        .call(Method::DELETE, &format!("/volumes/{id}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(keys(&a.body), keys(&sample("057-volumes-show-deleted")));
    let a = c.get("/limits").await;
    assert_eq!(a.body["limits"]["absolute"]["totalVolumesUsed"], 0);
}

#[tokio::test]
async fn snapshots_match_samples() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let vol = c.create_volume(json!({"size": 1, "name": "v"})).await;
    let a = c
        .post("/snapshots", json!({"snapshot": {"volume_id": vol, "name": "capture-snap", "description": "capture snapshot"}}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    same_keys(
        &sample("023-snapshots-create")["snapshot"],
        &a.body["snapshot"],
    );
    assert_eq!(a.body["snapshot"]["status"], "creating");
    let sid = a.body["snapshot"]["id"].as_str().expect("id").to_string();
    let a = c.get("/snapshots").await;
    same_keys(
        &sample("025-snapshots-list")["snapshots"][0],
        &a.body["snapshots"][0],
    );
    let a = c.get("/snapshots/detail").await;
    same_keys(
        &sample("026-snapshots-detail")["snapshots"][0],
        &a.body["snapshots"][0],
    );
    let a = c.get(&format!("/snapshots/{sid}")).await;
    same_keys(
        &sample("027-snapshots-show")["snapshot"],
        &a.body["snapshot"],
    );
    assert_eq!(
        a.body["snapshot"]["os-extended-snapshot-attributes:progress"],
        "100%"
    );
    let a = c.get_mv(&format!("/snapshots/{sid}"), "3.71").await;
    same_keys(
        &sample("028-snapshots-show-mv3.71")["snapshot"],
        &a.body["snapshot"],
    );

    let a = c
        .call(Method::DELETE, &format!("/volumes/{vol}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, sample("029-volumes-delete-with-snapshot-conflict"));
    let a = c.get("/os-quota-sets/".to_string().as_str()).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = c
        .get(&format!("/os-quota-sets/{}?usage=True", c.project))
        .await;
    assert_eq!(a.body["quota_set"]["snapshots"]["in_use"], 1);
    assert_eq!(a.body["quota_set"]["gigabytes"]["in_use"], 2);

    let a = c
        .call(Method::DELETE, &format!("/snapshots/{sid}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/snapshots/{sid}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        format!("Snapshot {sid} could not be found.")
    );
    let a = c
        .call(Method::DELETE, &format!("/volumes/{vol}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn volumes_from_snapshots_images_and_volumes_carry_bytes() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let a = t
        .call(
            Method::GET,
            "/image/v2/images?name=cirros",
            Some(&c.token),
            &[],
            None,
        )
        .await;
    let image_id = a.body["images"][0]["id"]
        .as_str()
        .expect("cirros")
        .to_string();
    let boot = c
        .create_volume(json!({"size": 1, "imageRef": image_id}))
        .await;
    let a = c.get(&format!("/volumes/{boot}")).await;
    assert_eq!(a.body["volume"]["bootable"], "true");
    assert_eq!(
        a.body["volume"]["volume_image_metadata"]["image_id"],
        image_id.as_str()
    );
    let image_bytes = {
        let g = t.site.data.lock();
        g.image
            .boot_image(&c.project, &image_id)
            .expect("image")
            .data
    };
    let data = |id: &str| t.site.data.lock().volume.volume_data(id);
    assert_eq!(data(&boot), Some(image_bytes.clone()));
    let clone = c.create_volume(json!({"source_volid": boot})).await;
    assert_eq!(data(&clone), Some(image_bytes.clone()));
    let a = c.get(&format!("/volumes/{clone}")).await;
    assert_eq!(a.body["volume"]["size"], 1, "size from the source");
    assert_eq!(a.body["volume"]["source_volid"], boot.as_str());
    let a = c
        .post("/snapshots", json!({"snapshot": {"volume_id": boot}}))
        .await;
    let sid = a.body["snapshot"]["id"].as_str().expect("id").to_string();
    let from_snap = c
        .create_volume(json!({"snapshot_id": sid, "size": 2}))
        .await;
    assert_eq!(data(&from_snap), Some(image_bytes));
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"snapshot_id": sid, "size": 0}}),
        )
        .await;
    assert_eq!(
        a.body["badRequest"]["message"],
        "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"
    );
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "imageRef": "nope"}}),
        )
        .await;
    assert_eq!(
        a.body["badRequest"]["message"],
        "Invalid image identifier or unable to access requested image."
    );
}

#[tokio::test]
async fn upload_to_image_makes_an_active_image_of_the_volume_bytes() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let a = t
        .call(
            Method::GET,
            "/image/v2/images?name=cirros",
            Some(&c.token),
            &[],
            None,
        )
        .await;
    let cirros = a.body["images"][0]["id"]
        .as_str()
        .expect("cirros")
        .to_string();
    let vol = c
        .create_volume(json!({"size": 1, "imageRef": cirros, "description": "capture volume"}))
        .await;
    let a = c
        .post(
            &format!("/volumes/{vol}/action"),
            json!({"os-volume_upload_image": {"image_name": "capture-vol-image", "disk_format": "raw", "container_format": "bare", "force": false}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let want = sample("032-volumes-action-os-volume_upload_image");
    same_keys(
        &want["os-volume_upload_image"],
        &a.body["os-volume_upload_image"],
    );
    same_keys(
        &want["os-volume_upload_image"]["volume_type"],
        &a.body["os-volume_upload_image"]["volume_type"],
    );
    assert_eq!(a.body["os-volume_upload_image"]["visibility"], "shared");
    let image = a.body["os-volume_upload_image"]["image_id"]
        .as_str()
        .expect("image id")
        .to_string();
    let a = c.get(&format!("/volumes/{vol}")).await;
    assert_eq!(a.body["volume"]["status"], "available");
    let a = t
        .call(
            Method::GET,
            &format!("/image/v2/images/{image}"),
            Some(&c.token),
            &[],
            None,
        )
        .await;
    assert_eq!(a.body["status"], "active");
    let a = t
        .call(
            Method::GET,
            &format!("/image/v2/images/{image}/file"),
            Some(&c.token),
            &[],
            None,
        )
        .await;
    let volume_bytes = t.site.data.lock().volume.volume_data(&vol).expect("data");
    assert_eq!(a.raw, volume_bytes);
}

#[tokio::test]
async fn upload_shows_uploading_while_it_runs() {
    let t = TestSite::with_timing(slow()).await;
    let c = demo(&t);
    let id = {
        let mut g = t.site.data.lock();
        g.volume
            .create_for_boot(&c.project, 1, None, "v")
            .expect("created")
    };
    let a = c
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-volume_upload_image": {"image_name": "x"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "uploading");
    same_keys(
        &sample("033-volumes-show-uploading")["volume"],
        &a.body["volume"],
    );
}

#[tokio::test]
async fn nova_attachment_shows_in_use() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    c.get(&format!("/volumes/{id}")).await;
    let att = {
        let mut g = t.site.data.lock();
        g.volume
            .attach(&c.project, &id, "server-1", "host-1", "/dev/sdb")
            .expect("attached")
    };
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "in-use");
    same_keys(
        &sample("035-volumes-show-in-use")["volume"],
        &a.body["volume"],
    );
    let entry = &a.body["volume"]["attachments"][0];
    same_keys(
        &sample("035-volumes-show-in-use")["volume"]["attachments"][0],
        entry,
    );
    assert_eq!(entry["attachment_id"], att.as_str());
    assert_eq!(entry["server_id"], "server-1");
    assert_eq!(entry["host_name"], Value::Null, "hidden from members");
    let a = c.get_mv(&format!("/volumes/{id}"), "3.71").await;
    same_keys(
        &sample("036-volumes-show-in-use-mv3.71")["volume"],
        &a.body["volume"],
    );
    let a = c.get_mv("/attachments", "3.71").await;
    same_keys(
        &sample("037-attachments-list-mv3.71")["attachments"][0],
        &a.body["attachments"][0],
    );
    let a = c.get_mv("/attachments/detail", "3.71").await;
    let want = sample("038-attachments-detail-mv3.71");
    same_keys(&want["attachments"][0], &a.body["attachments"][0]);
    same_keys(
        &want["attachments"][0]["connection_info"],
        &a.body["attachments"][0]["connection_info"],
    );
    let a = c.get("/attachments").await;
    assert_eq!(
        a.status,
        StatusCode::NOT_FOUND,
        "attachments API needs 3.27"
    );
    let a = c
        .call(Method::DELETE, &format!("/volumes/{id}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, sample("039-volumes-delete-in-use"));
    let a = admin(&t).get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["attachments"][0]["host_name"], "host-1");
    let a = c
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-begin_detaching": null}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "detaching");
    t.site
        .data
        .lock()
        .volume
        .detach(&id, "server-1")
        .expect("detached");
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "available");
    assert_eq!(a.body["volume"]["attachments"], json!([]));
}

#[tokio::test]
async fn limits_and_quotas_match_samples() {
    let t = TestSite::new().await;
    let c = demo(&t);
    c.create_volume(json!({"size": 1})).await;
    let a = c.get("/limits").await;
    assert_eq!(a.body, sample("042-limits"));
    let pid = c.project.clone();
    let a = c.get(&format!("/os-quota-sets/{pid}")).await;
    let want = sample("043-os-quota-sets-show");
    let mut got = a.body.clone();
    got["quota_set"]["id"] = want["quota_set"]["id"].clone();
    assert_eq!(got, want);
    let a = c.get(&format!("/os-quota-sets/{pid}?usage=True")).await;
    same_keys(
        &sample("044-os-quota-sets-show-usage")["quota_set"]["volumes"],
        &a.body["quota_set"]["volumes"],
    );
    assert_eq!(a.body["quota_set"]["volumes___DEFAULT__"]["in_use"], 1);
    assert_eq!(a.body["quota_set"]["gigabytes"]["in_use"], 1);
    let a = c.get(&format!("/os-quota-sets/{pid}/defaults")).await;
    assert_eq!(a.body["quota_set"]["volumes"], 10);
    let adm = admin(&t);
    let a = adm.get(&format!("/os-quota-sets/{pid}")).await;
    assert_eq!(a.status, StatusCode::OK);
    let other = project_id(&t, "admin");
    let a = c.get(&format!("/os-quota-sets/{other}")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = c
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{pid}"),
            None,
            Some(json!({"quota_set": {"volumes": 1}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = adm
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{pid}"),
            None,
            Some(json!({"quota_set": {"volumes": 1}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["quota_set"]["volumes"], 1);
    let a = c.post("/volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        a.body["overLimit"]["message"],
        "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'."
    );
    let a = adm
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{pid}"),
            None,
            Some(json!({"quota_set": {"volumes": 5, "gigabytes___DEFAULT__": 1}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = c.post("/volumes", json!({"volume": {"size": 1}})).await;
    assert_eq!(
        a.body["overLimit"]["message"],
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes___DEFAULT__ quota. Requested 1G, quota is 1G and 1G has been consumed."
    );
    let a = adm
        .call(
            Method::PUT,
            &format!("/os-quota-sets/{pid}"),
            None,
            Some(json!({"quota_set": {"bogus": 1}})),
        )
        .await;
    assert_eq!(
        a.body["badRequest"]["message"],
        "Invalid input received: Bad key(s) in quota set: bogus"
    );
}

#[tokio::test]
async fn errors_match_samples() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let a = c.get("/volumes/d4ed71b7-dc54-4ba5-af2a-371494ef16d8").await;
    assert_eq!(a.body, sample("047-volumes-show-not-found"));
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"size": "big", "name": "capture-bad"}}),
        )
        .await;
    assert_eq!(a.body, sample("048-volumes-create-bad-size"));
    let a = c
        .post("/volumes", json!({"volume": {"name": "capture-bad"}}))
        .await;
    assert_eq!(a.body, sample("049-volumes-create-missing-size"));
    let a = t
        .call_raw(
            Method::POST,
            &format!("/volume/v3/{}/volumes", c.project),
            Some(&c.token),
            &[],
            b"{\"volume\": {\"size\": ".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.body, sample("050-volumes-create-malformed-json"));
    c.create_volume(json!({"size": 1})).await;
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"size": 100000, "name": "capture-bad"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body, sample("051-volumes-create-too-large-over-quota"));
    let a = c.get_mv("/volumes", "3.999").await;
    assert_eq!(a.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(a.body, sample("052-volumes-list-unsupported-microversion"));
    let a = t
        .call(
            Method::GET,
            &format!("/volume/v3/{}/volumes", c.project),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, sample("053-volumes-list-no-token"));
    let other = project_id(&t, "admin");
    let a = t
        .call(
            Method::GET,
            &format!("/volume/v3/{other}/volumes"),
            Some(&c.token),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, sample("054-volumes-list-other-project-url"));
    let a = c.post("/volumes/x/action", json!({"os-bogus": {}})).await;
    assert_eq!(
        a.body["badRequest"]["message"],
        "There is no such action: os-bogus. Verify the request body and Content-Type header and try again."
    );
}

#[tokio::test]
async fn projectless_urls_and_tenant_isolation() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let a = t
        .call(
            Method::GET,
            &format!("/volume/v3/volumes/{id}"),
            Some(&c.token),
            &[("openstack-api-version", "volume 3.67")],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body["volume"]["links"][0]["href"],
        format!("http://127.0.0.1:5000/volume/v3/volumes/{id}")
    );
    let adm = admin(&t);
    let body = json!({"project": {"name": "other", "domain_id": "default"}});
    let a = t
        .call(
            Method::POST,
            "/identity/v3/projects",
            Some(&adm.token),
            &[],
            Some(body),
        )
        .await;
    let other_pid = a.body["project"]["id"]
        .as_str()
        .expect("project")
        .to_string();
    let body = json!({"user": {"name": "other", "password": "secret", "domain_id": "default", "default_project_id": other_pid}});
    let a = t
        .call(
            Method::POST,
            "/identity/v3/users",
            Some(&adm.token),
            &[],
            Some(body),
        )
        .await;
    let uid = a.body["user"]["id"].as_str().expect("user").to_string();
    let a = t
        .call(
            Method::GET,
            "/identity/v3/roles?name=member",
            Some(&adm.token),
            &[],
            None,
        )
        .await;
    let rid = a.body["roles"][0]["id"].as_str().expect("role").to_string();
    let path = format!("/identity/v3/projects/{other_pid}/users/{uid}/roles/{rid}");
    t.call(Method::PUT, &path, Some(&adm.token), &[], None)
        .await;
    let other = Client {
        t: &t,
        token: t.token("other", "other").await,
        project: other_pid,
    };
    let a = other.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        format!("Volume {id} could not be found.")
    );
    let a = other.get("/volumes").await;
    assert_eq!(a.body["volumes"], json!([]));
    let a = other
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-extend": {"new_size": 5}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = adm.get(&format!("/volumes/{id}")).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "admins see every project's volume"
    );
    let a = adm.get("/volumes?all_tenants=1").await;
    assert_eq!(a.body["volumes"].as_array().map(Vec::len), Some(1));
    let a = adm.get("/volumes").await;
    assert_eq!(a.body["volumes"], json!([]));
}

#[tokio::test]
async fn types_and_availability_zones() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let a = c.get("/os-availability-zone").await;
    assert_eq!(a.body, sample("008-availability-zones"));
    let a = c.get("/types").await;
    let types = a.body["volume_types"].as_array().expect("types");
    let default = types
        .iter()
        .find(|t| t["name"] == "__DEFAULT__")
        .expect("default type");
    same_keys(&sample("006-types-list")["volume_types"][0], default);
    assert_eq!(default["description"], "Default Volume Type");
    assert_eq!(types.len(), 1, "a fresh Cinder has only __DEFAULT__");
    let tid = default["id"].as_str().expect("id").to_string();
    let a = c.get(&format!("/types/{tid}")).await;
    same_keys(
        &sample("007-types-show")["volume_type"],
        &a.body["volume_type"],
    );
    let a = c
        .post("/types", json!({"volume_type": {"name": "gold"}}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.body["forbidden"]["message"],
        "Policy doesn't allow volume_extension:type_create to be performed."
    );
    let adm = admin(&t);
    let a = adm
        .post("/types", json!({"volume_type": {"name": "gold", "extra_specs": {"volume_backend_name": "lvmdriver-1"}}}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let gold = a.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = adm
        .post("/types", json!({"volume_type": {"name": "gold"}}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = c.get(&format!("/types/{gold}")).await;
    assert_eq!(
        a.body["volume_type"]["extra_specs"],
        json!({}),
        "backend name hidden from members"
    );
    let vol = c
        .create_volume(json!({"size": 1, "volume_type": "gold"}))
        .await;
    let a = c.get(&format!("/volumes/{vol}")).await;
    assert_eq!(a.body["volume"]["volume_type"], "gold");
    let a = c
        .get(&format!("/os-quota-sets/{}?usage=True", c.project))
        .await;
    assert_eq!(a.body["quota_set"]["volumes_gold"]["in_use"], 1);
    let a = adm
        .call(Method::DELETE, &format!("/types/{gold}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body["badRequest"]["message"],
        "Target volume type is still in use."
    );
    let a = c
        .post(
            "/volumes",
            json!({"volume": {"size": 1, "volume_type": "silver"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "Volume type with name silver could not be found."
    );
    c.call(Method::DELETE, &format!("/volumes/{vol}"), None, None)
        .await;
    let a = adm.get(&format!("/types/{gold}/extra_specs")).await;
    assert_eq!(
        a.body,
        json!({"extra_specs": {"volume_backend_name": "lvmdriver-1"}})
    );
    let a = adm
        .call(Method::DELETE, &format!("/types/{gold}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/types/{gold}")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn admin_actions_need_admin() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let body = json!({"os-reset_status": {"status": "error"}});
    let a = c.post(&format!("/volumes/{id}/action"), body.clone()).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let adm = admin(&t);
    let a = adm.post(&format!("/volumes/{id}/action"), body).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "error");
    let a = c
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-set_bootable": {"bootable": "yes"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["bootable"], "true");
    let a = adm
        .post(
            &format!("/volumes/{id}/action"),
            json!({"os-reset_status": {"status": "bogus"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn services_and_pools_for_admins() {
    let t = TestSite::new().await;
    let a = demo(&t).get("/os-services").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let adm = admin(&t);
    let a = adm.get("/os-services").await;
    let binaries: Vec<&str> = a.body["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["binary"].as_str())
        .collect();
    assert_eq!(binaries, ["cinder-scheduler", "cinder-volume"]);
    assert_eq!(a.body["services"][1]["state"], "up");
    let a = adm.get("/os-services?binary=cinder-volume").await;
    assert_eq!(a.body["services"].as_array().map(Vec::len), Some(1));
    demo(&t).create_volume(json!({"size": 3})).await;
    let a = adm.get("/scheduler-stats/get_pools?detail=true").await;
    assert_eq!(
        a.body["pools"][0]["capabilities"]["allocated_capacity_gb"],
        3
    );
}

#[tokio::test]
async fn retype_and_unknown_routes() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let adm = admin(&t);
    adm.post("/types", json!({"volume_type": {"name": "gold"}}))
        .await;
    let id = c.create_volume(json!({"size": 2})).await;
    let action = format!("/volumes/{id}/action");
    let a = c
        .post(&action, json!({"os-retype": {"new_type": "__DEFAULT__"}}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "same type");
    let a = c
        .post(
            &action,
            json!({"os-retype": {"new_type": "gold", "migration_policy": "never"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["volume_type"], "gold");
    assert_eq!(a.body["volume"]["status"], "available");
    let a = c
        .get(&format!("/os-quota-sets/{}?usage=True", c.project))
        .await;
    assert_eq!(a.body["quota_set"]["gigabytes_gold"]["in_use"], 2);
    assert_eq!(a.body["quota_set"]["gigabytes___DEFAULT__"]["in_use"], 0);
    let a = c.get("/backups").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "The resource could not be found."
    );
    let a = c
        .call(Method::PATCH, &format!("/volumes/{id}"), None, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = t
        .call(Method::GET, "/volume/v3/backups", None, &[], None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn attachments_api_reserve_connect_complete_delete() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let server = "dab94797-926c-42dd-87fd-6ca88bcbf320";
    let a = c
        .call(
            Method::POST,
            "/attachments",
            Some("3.54"),
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": server}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let att = a.body["attachment"]["id"].as_str().expect("id").to_string();
    assert_eq!(a.body["attachment"]["status"], "reserved");
    assert_eq!(a.body["attachment"]["attach_mode"], "null");
    assert_eq!(a.body["attachment"]["connection_info"], json!({}));
    let v = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "reserved");
    assert_eq!(v.body["volume"]["attachments"], json!([]));
    let a = c
        .call(
            Method::PUT,
            &format!("/attachments/{att}"),
            Some("3.54"),
            Some(json!({"attachment": {"connector": {"host": "h1", "mountpoint": "/dev/vdc"}}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    same_keys(
        &sample("038-attachments-detail-mv3.71")["attachments"][0],
        &a.body["attachment"],
    );
    let a = c
        .call(
            Method::POST,
            &format!("/attachments/{att}/action"),
            Some("3.54"),
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let v = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "in-use");
    assert_eq!(v.body["volume"]["attachments"][0]["device"], "/dev/vdc");
    let a = c
        .call(
            Method::DELETE,
            &format!("/attachments/{att}"),
            Some("3.54"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let v = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(v.body["volume"]["status"], "available");
    let a = c
        .call(
            Method::POST,
            "/attachments",
            Some("3.27"),
            Some(json!({"attachment": {"volume_uuid": "not-a-uuid"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn nova_attachments_are_removed_only_through_nova() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    c.get(&format!("/volumes/{id}")).await;
    let att = t
        .site
        .data
        .lock()
        .volume
        .attach(&c.project, &id, "server-1", "host-1", "/dev/vdb")
        .expect("attached");
    let a = c
        .call(
            Method::DELETE,
            &format!("/attachments/{att}"),
            Some("3.71"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        a.body["conflictingRequest"]["message"],
        "ConflictNovaUsingAttachment: Detach volume from instance server-1 using the Compute API"
    );
    let a = c
        .post(&format!("/volumes/{id}/action"), json!({"os-detach": {}}))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = c
        .call(
            Method::POST,
            "/attachments",
            Some("3.71"),
            Some(json!({"attachment": {"volume_uuid": id}})),
        )
        .await;
    assert_eq!(
        a.body["badRequest"]["message"],
        format!("Invalid volume: Volume {id} status must be available or downloading to reserve, but the current status is in-use.")
    );
}

#[tokio::test]
async fn revert_to_latest_snapshot_restores_its_bytes() {
    let t = TestSite::new().await;
    let c = demo(&t);
    let id = c.create_volume(json!({"size": 1})).await;
    let a = c
        .post("/snapshots", json!({"snapshot": {"volume_id": id}}))
        .await;
    let sid = a.body["snapshot"]["id"].as_str().expect("id").to_string();
    c.get(&format!("/snapshots/{sid}")).await;
    if let Some(v) = t.site.data.lock().volume.volumes.get_mut(&id) {
        v.data = Some(Bytes::from_static(b"written after the snapshot"));
    }
    let action = format!("/volumes/{id}/action");
    let body = json!({"revert": {"snapshot_id": sid}});
    let a = c.post(&action, body.clone()).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "revert needs 3.40");
    let a = c
        .call(
            Method::POST,
            &action,
            Some("3.40"),
            Some(json!({"revert": {"snapshot_id": id}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = c
        .call(Method::POST, &action, Some("3.40"), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    let data = t.site.data.lock().volume.volume_data(&id);
    assert_eq!(data.as_deref(), Some(&b""[..]));
    let a = c.get(&format!("/volumes/{id}")).await;
    assert_eq!(a.body["volume"]["status"], "available");
}
