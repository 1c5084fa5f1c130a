//! Glance at the top: the API against the captured samples, data, replication to simulated
//! sites and registration of their images.

use super::copy::{ACTIVE, FAILED};
use super::{ensure_on_site, image_for_boot, register_site_image, spawn_loops};
use crate::sites::SiteHandle;
use crate::tenancy::site_project;
use crate::testing::{Answer, TestTop};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use fedstack_api_types::glance::Digests;
use fedstack_api_types::Service;
use fedstack_sim::faults::DownMode;
use fedstack_sim::{Sim, SimConfig};
use fedstack_site_client::{Scope, SiteRequest};
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const OCTETS: &str = "application/octet-stream";
const PATCH: &str = "application/openstack-images-v2.1-json-patch";

/// The response body of a captured exchange.
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/openstack-samples/image/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("sample JSON");
    v["response"]["body"].clone()
}

/// The 1024 bytes the capture uploaded (their md5 is the sample's checksum).
fn sample_data() -> Vec<u8> {
    (0..1024).map(|i| (i % 256) as u8).collect()
}

fn message(a: &Answer) -> &str {
    a.body["message"].as_str().unwrap_or_default()
}

/// Creates an image as `token` and returns its ID.
async fn create(t: &TestTop, token: &str, body: Value) -> String {
    let a = t
        .call(Method::POST, "/image/v2/images", Some(token), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().expect("id").to_string()
}

async fn upload(t: &TestTop, token: &str, id: &str, data: Vec<u8>) -> Answer {
    let path = format!("/image/v2/images/{id}/file");
    t.call_raw(Method::PUT, &path, Some(token), &[], data, OCTETS)
        .await
}

async fn show(t: &TestTop, token: &str, id: &str) -> Answer {
    let path = format!("/image/v2/images/{id}");
    t.call(Method::GET, &path, Some(token), None).await
}

/// A raw image of `data` with a replication policy, uploaded by admin: its ID.
async fn uploaded(t: &TestTop, policy: &str, data: Vec<u8>) -> String {
    let body = json!({"name": format!("img-{policy}"), "disk_format": "raw", "container_format": "bare",
                      "visibility": "public", "fedstack_replication": policy});
    let id = create(t, &t.admin_token, body).await;
    let a = upload(t, &t.admin_token, &id, data).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    id
}

/// Waits up to `secs` seconds for the image's copy on `site` to reach `state`.
async fn wait_copy(t: &TestTop, id: &str, site: &SiteHandle, state: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while copy_state(t, id, site).await.as_deref() != Some(state) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "copy of {id} to {} not {state}: {:?}",
            site.name(),
            t.top.store.image_copy(id, site.id()).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to ten seconds for `site` to have no image `id`.
async fn wait_gone(site: &SiteHandle, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while on_site(site, id).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} still on {}",
            site.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A top with two simulated sites registered through `/fed/v1/sites`.
async fn bed() -> (TestTop, Arc<Sim>, Vec<Arc<SiteHandle>>) {
    let t = TestTop::new().await;
    let sim = Sim::start(SimConfig::with_sites(2)).await.expect("sim");
    let mut sites = Vec::new();
    for s in &sim.sites {
        let body = json!({"site": {"name": s.site.name, "auth_url": s.site.auth_url(),
            "credentials": {"type": "password", "username": "admin", "password": "secret", "project_name": "admin"}}});
        let a = t
            .call(
                Method::POST,
                "/fed/v1/sites",
                Some(&t.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let id = a.body["site"]["id"].as_str().expect("site id");
        sites.push(t.top.sites.get(id).expect("registered"));
    }
    (t, sim, sites)
}

/// The site's own view of one of its images (`None` when it has none).
async fn on_site(site: &SiteHandle, id: &str) -> Option<Value> {
    let r = site
        .client
        .send(SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images/{id}"),
            Scope::Admin,
        ))
        .await
        .expect("site answers");
    r.is_success().then(|| r.json())
}

async fn copy_state(t: &TestTop, id: &str, site: &SiteHandle) -> Option<String> {
    let c = t.top.store.image_copy(id, site.id()).await.expect("store");
    c.map(|c| c.state)
}

#[tokio::test]
async fn versions_discovery_and_schemas() {
    let t = TestTop::new().await;
    let a = t.call(Method::GET, "/image", None, None).await;
    assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
    let ids = |v: &Value| v["versions"].as_array().map(|v| v.len());
    assert_eq!(ids(&a.body), ids(&sample("001-versions")));
    assert_eq!(
        a.body["versions"][0]["links"][0]["href"],
        "http://127.0.0.1:8000/image/v2/"
    );
    let tok = Some(t.demo_token.as_str());
    for (path, name) in [
        ("/image/v2/schemas/image", "022-schemas-image"),
        ("/image/v2/schemas/images", "023-schemas-images"),
        ("/image/v2/info/import", "024-info-import"),
        ("/image/v2/info/stores", "025-info-stores"),
    ] {
        let a = t.call(Method::GET, path, tok, None).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.body, sample(name), "{path}");
    }
    let a = t.call(Method::GET, "/image/v2/images", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, sample("031-images-list-no-token"));
    let a = t.call(Method::GET, "/image/v2/nothing", tok, None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn image_lifecycle_as_the_samples() {
    let t = TestTop::new().await;
    let tok = t.demo_token.clone();
    let body = json!({"name": "capture-image", "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "min_disk": 0, "min_ram": 0, "tags": ["capture"], "capture_origin": "fedstack"});
    let a = t
        .call(Method::POST, "/image/v2/images", Some(&tok), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let id = a.body["id"].as_str().expect("id").to_string();
    let created = sample("004-images-create");
    let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(&a.body), keys(&created));
    assert_eq!(a.body["status"], "queued");
    assert_eq!(
        a.headers["location"],
        format!("http://127.0.0.1:8000/image/v2/images/{id}").as_str()
    );
    assert_eq!(
        a.headers["openstack-image-import-methods"],
        "glance-direct,web-download,copy-image"
    );

    let a = upload(&t, &tok, &id, sample_data()).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");
    let a = show(&t, &tok, &id).await;
    let active = sample("007-images-show-active");
    assert_eq!(keys(&a.body), keys(&active));
    for k in [
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "status",
        "stores",
    ] {
        assert_eq!(a.body[k], active[k], "{k}");
    }
    let a = upload(&t, &tok, &id, sample_data()).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body, sample("011-images-upload-file-again-conflict"));

    let path = format!("/image/v2/images/{id}");
    let ops = json!([{"op": "replace", "path": "/name", "value": "capture-image-renamed"},
                     {"op": "add", "path": "/capture_prop", "value": "captured"}]);
    let a = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&tok),
            &[],
            ops.to_string().into_bytes(),
            PATCH,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["capture_prop"], "captured");
    let ops = json!([{"op": "replace", "path": "/id", "value": "x"}]);
    let a = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&tok),
            &[],
            ops.to_string().into_bytes(),
            PATCH,
        )
        .await;
    assert_eq!(a.body, sample("027-images-update-read-only-attribute"));
    let a = t
        .call_raw(
            Method::PATCH,
            &path,
            Some(&tok),
            &[],
            b"[]".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(a.body, sample("029-images-update-wrong-content-type"));

    let tag = format!("{path}/tags/x%20y");
    assert_eq!(
        t.call(Method::PUT, &tag, Some(&tok), None).await.status,
        StatusCode::NO_CONTENT
    );
    let a = t
        .call(Method::GET, "/image/v2/images?tag=x%20y", Some(&tok), None)
        .await;
    assert_eq!(a.body["images"][0]["id"], id.as_str());
    assert_eq!(
        t.call(Method::DELETE, &tag, Some(&tok), None).await.status,
        StatusCode::NO_CONTENT
    );
    let a = t.call(Method::DELETE, &tag, Some(&tok), None).await;
    assert_eq!(a.body, sample("015-images-tag-delete-not-found"));

    let second = create(&t, &tok, json!({"name": "second"})).await;
    let a = t
        .call(Method::GET, "/image/v2/images?limit=1", Some(&tok), None)
        .await;
    assert_eq!(a.body["images"][0]["id"], second.as_str());
    assert_eq!(a.body["first"], "/v2/images?limit=1");
    assert_eq!(
        a.body["next"],
        format!("/v2/images?limit=1&marker={second}").as_str()
    );
    let next = format!("/image{}", a.body["next"].as_str().unwrap_or_default());
    let a = t.call(Method::GET, &next, Some(&tok), None).await;
    assert_eq!(a.body["images"][0]["id"], id.as_str());
    let a = t
        .call(
            Method::GET,
            "/image/v2/images?sort_key=owner",
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = t.call(Method::DELETE, &path, Some(&tok), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = show(&t, &tok, &id).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        message(&a),
        format!("No image found with ID {id}<br /><br />\n\n\n")
    );
    let file = t.top.config.data_dir.join("images").join(&id);
    assert!(!file.exists(), "the top's data is gone");
}

#[tokio::test]
async fn create_refuses_as_glance() {
    let t = TestTop::new().await;
    let tok = Some(t.demo_token.as_str());
    let a = t
        .call(
            Method::POST,
            "/image/v2/images",
            tok,
            Some(
                json!({"name": "capture-bad", "disk_format": "floppy", "container_format": "bare"}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, sample("030-images-create-bad-disk-format"));
    let a = t
        .call(
            Method::POST,
            "/image/v2/images",
            tok,
            Some(json!({"fedstack_replication": "sometimes"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        message(&a).starts_with("Invalid value 'sometimes' for property 'fedstack_replication'")
    );
    let id = create(&t, &t.demo_token, json!({"name": "x"})).await;
    let a = t
        .call(
            Method::POST,
            "/image/v2/images",
            tok,
            Some(json!({"id": id})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        message(&a),
        format!("Image ID {id} already exists!<br /><br />\n\n\n")
    );
    let a = upload(&t, &t.demo_token, &id, b"data".to_vec()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let qcow2 = create(
        &t,
        &t.demo_token,
        json!({"name": "q", "disk_format": "qcow2", "container_format": "bare"}),
    )
    .await;
    let a = upload(&t, &t.demo_token, &qcow2, b"not a qcow2 header".to_vec()).await;
    assert_eq!(
        a.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the data is not its disk_format"
    );
    assert_eq!(
        show(&t, &t.demo_token, &qcow2).await.body["status"],
        "queued"
    );
    let a = t
        .call(
            Method::POST,
            &format!("/image/v2/images/{qcow2}"),
            tok,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let a = t
        .call_raw(
            Method::POST,
            "/image/v2/images",
            tok,
            &[],
            b"{not json".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn upload_then_download_gives_the_same_bytes_and_checksums() {
    let t = TestTop::new().await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let id = create(
        &t,
        &t.demo_token,
        json!({"name": "d", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    assert_eq!(
        upload(&t, &t.demo_token, &id, data.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let digests = Digests::of(&data);
    let a = show(&t, &t.demo_token, &id).await;
    assert_eq!(a.body["size"], data.len());
    assert_eq!(a.body["checksum"], digests.md5.as_str());
    assert_eq!(a.body["os_hash_value"], digests.sha512.as_str());
    let path = format!("/image/v2/images/{id}/file");
    let a = t.call(Method::GET, &path, Some(&t.demo_token), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.raw.as_ref(), data.as_slice());
    assert_eq!(a.headers["content-md5"], digests.md5.as_str());
    assert_eq!(a.headers["content-length"], data.len().to_string().as_str());
    let a = t
        .call_raw(
            Method::GET,
            &path,
            Some(&t.demo_token),
            &[("range", "bytes=10-19")],
            vec![],
            OCTETS,
        )
        .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.raw.as_ref(), &data[10..20]);
    let queued = create(&t, &t.demo_token, json!({"name": "empty"})).await;
    let a = t
        .call(
            Method::GET,
            &format!("/image/v2/images/{queued}/file"),
            Some(&t.demo_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_gibibyte_streams_to_disk() {
    const MIB: usize = 1 << 20;
    let t = TestTop::new().await;
    let id = create(
        &t,
        &t.admin_token,
        json!({"name": "big", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    let chunk: bytes::Bytes = (0..MIB)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mut sha = Sha512::new();
    for _ in 0..1024 {
        sha.update(&chunk);
    }
    let want = hex::encode(sha.finalize());
    let chunks =
        futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("/image/v2/images/{id}/file"))
        .header("x-auth-token", &t.admin_token)
        .header("content-type", OCTETS)
        .body(Body::from_stream(chunks))
        .expect("request");
    let resp = t.router.clone().oneshot(req).await.expect("answer");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body:?}");
    let a = show(&t, &t.admin_token, &id).await;
    assert_eq!(a.body["size"], 1u64 << 30);
    assert_eq!(a.body["os_hash_value"], want.as_str());
    let a = t
        .call(
            Method::DELETE,
            &format!("/image/v2/images/{id}"),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn private_images_stay_with_their_project() {
    let t = TestTop::new().await;
    let id = create(
        &t,
        &t.admin_token,
        json!({"name": "secret", "visibility": "private", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    upload(&t, &t.admin_token, &id, b"private bytes".to_vec()).await;
    let demo = Some(t.demo_token.as_str());
    let path = format!("/image/v2/images/{id}");
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::GET, format!("{path}/file")),
        (Method::DELETE, path.clone()),
        (Method::PUT, format!("{path}/tags/t")),
    ] {
        let a = t.call(method.clone(), &p, demo, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {p}");
    }
    let a = t
        .call_raw(Method::PATCH, &path, demo, &[], b"[]".to_vec(), PATCH)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = t.call(Method::GET, "/image/v2/images", demo, None).await;
    assert_eq!(a.body["images"], json!([]));
    let a = t
        .call(
            Method::GET,
            &format!("/image/v2/images?marker={id}"),
            demo,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let demo_project = t
        .top
        .store
        .project_by_name("demo")
        .await
        .expect("store")
        .expect("demo");
    let e = image_for_boot(&t.top, &demo_project.id, &id)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.service),
        (StatusCode::BAD_REQUEST, Service::Compute)
    );
    assert_eq!(e.message, "Can not find requested image");
    let admin = t
        .top
        .store
        .project_by_name("admin")
        .await
        .expect("store")
        .expect("admin");
    assert_eq!(
        image_for_boot(&t.top, &admin.id, &id)
            .await
            .expect("own image")
            .id,
        id
    );
    let a = t.call(Method::GET, &path, Some(&t.admin_token), None).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn eager_images_are_copied_to_every_site_and_verified() {
    let (t, _sim, sites) = bed().await;
    let data = b"eager image bytes".repeat(1000);
    let id = uploaded(&t, "eager", data.clone()).await;
    let sha512 = Digests::of(&data).sha512;
    for site in &sites {
        wait_copy(&t, &id, site, ACTIVE, 30).await;
        let copy = on_site(site, &id)
            .await
            .expect("the copy keeps the top's ID");
        assert_eq!(copy["status"], "active");
        assert_eq!(copy["os_hash_value"], sha512.as_str());
        assert_eq!(copy["fedstack_replication"], "eager");
        assert_eq!(copy["visibility"], "public");
    }
    let a = t
        .call(
            Method::DELETE,
            &format!("/image/v2/images/{id}"),
            Some(&t.admin_token),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    for site in &sites {
        wait_gone(site, &id).await;
    }
}

#[tokio::test]
async fn on_demand_copies_once_even_when_asked_twice_at_once() {
    let (t, _sim, sites) = bed().await;
    let id = uploaded(&t, "on-demand", b"boot me".repeat(5000)).await;
    let admin = t
        .top
        .store
        .project_by_name("admin")
        .await
        .expect("store")
        .expect("admin");
    let row = image_for_boot(&t.top, &admin.id, &id)
        .await
        .expect("bootable");
    assert_eq!(
        copy_state(&t, &id, &sites[0]).await,
        None,
        "nothing copied before a boot"
    );
    let (a, b) = tokio::join!(
        ensure_on_site(&t.top, &row, &sites[0]),
        ensure_on_site(&t.top, &row, &sites[0])
    );
    assert_eq!(a.expect("copied"), id);
    assert_eq!(b.expect("copied"), id);
    let c = t
        .top
        .store
        .image_copy(&id, sites[0].id())
        .await
        .expect("store")
        .expect("copy");
    assert_eq!((c.state.as_str(), c.attempts), (ACTIVE, 1));
    assert_eq!(
        copy_state(&t, &id, &sites[1]).await,
        None,
        "only where it boots"
    );
    let listed = sites[0]
        .client
        .json(SiteRequest::new(
            Method::GET,
            "image",
            "/v2/images?name=img-on-demand",
            Scope::Admin,
        ))
        .await
        .expect("site list");
    assert_eq!(listed["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        ensure_on_site(&t.top, &row, &sites[0])
            .await
            .expect("at once"),
        id
    );
}

#[tokio::test]
async fn a_site_down_during_an_eager_copy_gets_it_when_back() {
    let (t, sim, sites) = bed().await;
    spawn_loops(&t.top);
    sim.set_down(sites[1].name(), Some(DownMode::Refuse))
        .await
        .expect("down");
    let id = uploaded(&t, "eager", b"resilient".repeat(2000)).await;
    wait_copy(&t, &id, &sites[0], ACTIVE, 30).await;
    wait_copy(&t, &id, &sites[1], FAILED, 30).await;
    let c = t
        .top
        .store
        .image_copy(&id, sites[1].id())
        .await
        .expect("store")
        .expect("copy");
    assert!(c.attempts >= 1 && c.error.is_some(), "{c:?}");
    sim.set_down(sites[1].name(), None).await.expect("up");
    wait_copy(&t, &id, &sites[1], ACTIVE, 60).await;
    let copy = on_site(&sites[1], &id).await.expect("copied");
    assert_eq!(
        copy["os_hash_value"],
        Digests::of(&b"resilient".repeat(2000)).sha512.as_str()
    );
}

#[tokio::test]
async fn site_images_are_registered_without_copying() {
    let (t, _sim, sites) = bed().await;
    spawn_loops(&t.top);
    let demo = Some(t.demo_token.as_str());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Every site carries the same cirros: one top image with a copy on each site.
    let (listed, id, copies) = loop {
        let a = t
            .call(Method::GET, "/image/v2/images?name=cirros", demo, None)
            .await;
        if let Some(id) = a.body["images"][0]["id"].as_str() {
            let copies = t.top.store.image_copies(id).await.expect("store");
            if copies.len() == 2 {
                break (a.body.clone(), id.to_string(), copies);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cirros not registered on both sites: {}",
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        listed["images"].as_array().map(Vec::len),
        Some(1),
        "one cirros at the top"
    );
    let cirros = listed["images"][0].clone();
    assert_eq!(cirros["fedstack_replication"], "register");
    assert_eq!(cirros["status"], "active");
    assert_ne!(
        copies[0].site_image_id, copies[1].site_image_id,
        "each site keeps its own image"
    );
    let own = copies
        .iter()
        .find(|c| c.site_image_id == id)
        .expect("the first site's image is the top image");
    let twin = copies
        .iter()
        .find(|c| c.site_image_id != id)
        .expect("the other site's own cirros");
    let site = sites.iter().find(|s| s.id() == own.site_id).expect("site");
    let on = on_site(site, &id).await.expect("the site's own image");
    assert_eq!(cirros["os_hash_value"], on["os_hash_value"]);
    let file = t.top.config.data_dir.join("images").join(&id);
    assert!(!file.exists(), "no data at the top");
    let a = t
        .call(
            Method::GET,
            &format!("/image/v2/images/{id}/file"),
            demo,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        Digests::of(&a.raw).sha512,
        on["os_hash_value"].as_str().unwrap_or_default()
    );
    let admin = t
        .top
        .store
        .project_by_name("admin")
        .await
        .expect("store")
        .expect("admin");
    assert_eq!(cirros["owner"], admin.id.as_str());
    let row = image_for_boot(&t.top, &admin.id, &id)
        .await
        .expect("bootable");
    assert_eq!(
        ensure_on_site(&t.top, &row, site)
            .await
            .expect("already there"),
        id
    );
    let other = sites
        .iter()
        .find(|s| s.id() == twin.site_id)
        .expect("other site");
    assert_eq!(
        ensure_on_site(&t.top, &row, other)
            .await
            .expect("the twin is there"),
        twin.site_image_id,
        "booting on the other site uses its own copy, without copying"
    );
}

#[tokio::test]
async fn images_made_on_a_site_through_the_top_are_registered() {
    let (t, _sim, sites) = bed().await;
    let demo = t
        .top
        .store
        .project_by_name("demo")
        .await
        .expect("store")
        .expect("demo");
    let site_demo = site_project(&t.top, &sites[0], &demo.id, Service::Compute)
        .await
        .expect("site project");
    let made = sites[0]
        .client
        .send(
            SiteRequest::new(
                Method::POST,
                "image",
                "/v2/images",
                Scope::Project(site_demo),
            )
            .json(&json!({"name": "snap", "visibility": "private", "image_type": "snapshot"})),
        )
        .await
        .expect("site answers")
        .ok()
        .expect("created")
        .json();
    let id = register_site_image(&t.top, &sites[0], &made)
        .await
        .expect("registered");
    assert_eq!(id, made["id"].as_str().unwrap_or_default());
    let a = show(&t, &t.demo_token, &id).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["owner"], demo.id.as_str());
    assert_eq!(a.body["image_type"], "snapshot");
    assert_eq!(a.body["status"], "queued");
    let c = t
        .top
        .store
        .image_copy(&id, sites[0].id())
        .await
        .expect("store")
        .expect("copy");
    assert_eq!(c.state, ACTIVE);
    let bad = register_site_image(&t.top, &sites[0], &json!({"nope": 1}))
        .await
        .unwrap_err();
    assert_eq!(bad.service, Service::Compute);
}

/// A public raw image of `data` made directly on the site (as its admin), then registered at
/// the top as the register loop would: its ID.
async fn site_only_image(t: &TestTop, site: &SiteHandle, data: &[u8]) -> String {
    let admin = |m, path: String| SiteRequest::new(m, "image", path, Scope::Admin);
    let made = site
        .client
        .json(admin(Method::POST, "/v2/images".into()).json(&json!({
            "name": "site-only", "disk_format": "raw", "container_format": "bare", "visibility": "public"})))
        .await
        .expect("created on the site");
    let id = made["id"].as_str().expect("id").to_string();
    site.client
        .send(admin(Method::PUT, format!("/v2/images/{id}/file")).raw(data.to_vec().into(), OCTETS))
        .await
        .expect("site answers")
        .ok()
        .expect("uploaded");
    let record = site
        .client
        .json(admin(Method::GET, format!("/v2/images/{id}")))
        .await
        .expect("shown");
    assert_eq!(record["status"], "active", "{record}");
    register_site_image(&t.top, site, &record)
        .await
        .expect("registered")
}

#[tokio::test]
async fn a_site_image_is_copied_site_to_site_when_a_boot_needs_it() {
    let (t, _sim, sites) = bed().await;
    let data = b"only on the first site".repeat(5000);
    let id = site_only_image(&t, &sites[0], &data).await;
    let admin = t
        .top
        .store
        .project_by_name("admin")
        .await
        .expect("store")
        .expect("admin");
    let row = image_for_boot(&t.top, &admin.id, &id)
        .await
        .expect("bootable");
    assert!(!row.local_data);
    assert_eq!(
        super::boot_sites(&t.top, &row).await,
        None,
        "a site image can be placed anywhere while a site holding it is up"
    );
    assert!(on_site(&sites[1], &id).await.is_none());
    let copied = ensure_on_site(&t.top, &row, &sites[1])
        .await
        .expect("copied from the first site");
    let on = on_site(&sites[1], &copied)
        .await
        .expect("on the second site");
    assert_eq!(on["status"], "active");
    assert_eq!(on["os_hash_value"], Digests::of(&data).sha512.as_str());
    assert_eq!(
        copy_state(&t, &id, &sites[1]).await.as_deref(),
        Some(ACTIVE)
    );
    let file = t.top.config.data_dir.join("images").join(&id);
    assert!(!file.exists(), "the top keeps no byte of it");
    let a = show(&t, &t.admin_token, &id).await;
    assert_eq!(
        a.body["status"], "active",
        "the copy leaves the record alone"
    );
}
