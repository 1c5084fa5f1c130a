//! Glance behaviour checked against the captured samples (`../shared/openstack-samples/image`).

use super::{NewImage, Visibility};
use crate::testing::{Answer, TestSite};
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const PATCH: &str = "application/openstack-images-v2.1-json-patch";
const OCTETS: &str = "application/octet-stream";

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

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The 1024 bytes the capture uploaded (their md5 is the sample's checksum).
fn sample_data() -> Vec<u8> {
    (0..1024).map(|i| (i % 256) as u8).collect()
}

async fn call(t: &TestSite, m: Method, path: &str, token: &str, body: Option<Value>) -> Answer {
    t.call(m, path, Some(token), &[], body).await
}

async fn raw(
    t: &TestSite,
    m: Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
    ctype: &str,
) -> Answer {
    t.call_raw(m, path, Some(token), &[], body, ctype).await
}

/// Creates an image as `token` and returns its ID.
async fn create(t: &TestSite, token: &str, body: Value) -> String {
    let a = call(t, Method::POST, "/image/v2/images", token, Some(body)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().expect("id").to_string()
}

async fn patch(t: &TestSite, token: &str, id: &str, ops: Value) -> Answer {
    let body = serde_json::to_vec(&ops).expect("json");
    raw(
        t,
        Method::PATCH,
        &format!("/image/v2/images/{id}"),
        token,
        body,
        PATCH,
    )
    .await
}

/// A fresh project with a member user, and that user's token.
async fn other_project(t: &TestSite, name: &str) -> (String, String) {
    let admin = t.admin_token.clone();
    let p = call(
        t,
        Method::POST,
        "/identity/v3/projects",
        &admin,
        Some(json!({"project": {"name": name}})),
    )
    .await;
    let pid = p.body["project"]["id"]
        .as_str()
        .expect("project id")
        .to_string();
    let u = call(
        t,
        Method::POST,
        "/identity/v3/users",
        &admin,
        Some(json!({"user": {"name": name, "password": "secret", "default_project_id": pid}})),
    )
    .await;
    let uid = u.body["user"]["id"].as_str().expect("user id").to_string();
    let roles = call(
        t,
        Method::GET,
        "/identity/v3/roles?name=member",
        &admin,
        None,
    )
    .await;
    let rid = roles.body["roles"][0]["id"]
        .as_str()
        .expect("role id")
        .to_string();
    let path = format!("/identity/v3/projects/{pid}/users/{uid}/roles/{rid}");
    let a = call(t, Method::PUT, &path, &admin, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    (pid, t.token(name, name).await)
}

fn message(a: &Answer) -> String {
    a.body["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn versions_as_glance() {
    let t = TestSite::new().await;
    let a = t.get("/image").await;
    assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
    let ids = |v: &Value| -> Vec<String> {
        v["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|x| x["id"].to_string())
            .collect()
    };
    assert_eq!(ids(&a.body), ids(&sample("001-versions")));
    assert_eq!(
        a.body["versions"][0]["links"][0]["href"],
        "http://127.0.0.1:5000/image/v2/"
    );
    let a = t.get("/image/versions").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(ids(&a.body), ids(&sample("002-versions-v2")));
}

#[tokio::test]
async fn create_upload_download_like_the_samples() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let body = json!({"name": "capture-image", "disk_format": "raw", "container_format": "bare", "visibility": "private", "min_disk": 0, "min_ram": 0, "tags": ["capture"], "capture_origin": "fedstack"});
    let a = call(&t, Method::POST, "/image/v2/images", &tok, Some(body)).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(keys(&a.body), keys(&sample("004-images-create")));
    assert_eq!(
        a.headers["openstack-image-import-methods"],
        "glance-direct,web-download,copy-image"
    );
    assert_eq!(
        a.headers["openstack-image-store-ids"],
        "fs,os_glance_staging_store,os_glance_tasks_store"
    );
    let id = a.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        a.headers["location"],
        format!("http://127.0.0.1:5000/image/v2/images/{id}")
    );
    assert_eq!(a.body["status"], "queued");
    assert_eq!(a.body["self"], format!("/v2/images/{id}"));

    let path = format!("/image/v2/images/{id}/file");
    let a = raw(&t, Method::PUT, &path, &tok, sample_data(), OCTETS).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");

    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{id}"),
        &tok,
        None,
    )
    .await;
    let expected = sample("007-images-show-active");
    assert_eq!(keys(&a.body), keys(&expected));
    for k in [
        "status",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "stores",
    ] {
        assert_eq!(a.body[k], expected[k], "{k}");
    }

    let a = call(&t, Method::GET, &path, &tok, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-md5"], "b2ea9f7fcea831a4a63b213f41a8855b");
    assert_eq!(a.headers["content-length"], "1024");
    assert_eq!(a.headers["content-type"], OCTETS);
    assert_eq!(a.raw.as_ref(), sample_data().as_slice());

    let a = raw(&t, Method::PUT, &path, &tok, sample_data(), OCTETS).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body, sample("011-images-upload-file-again-conflict"));

    let a = t
        .call(
            Method::GET,
            &path,
            Some(&tok),
            &[("range", "bytes=10-19")],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(a.headers["content-range"], "bytes 10-19/1024");
    assert_eq!(a.raw.as_ref(), &sample_data()[10..20]);
}

#[tokio::test]
async fn upload_and_download_edge_cases() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let id = create(&t, &tok, json!({"name": "no-format"})).await;
    let path = format!("/image/v2/images/{id}/file");
    let a = call(&t, Method::GET, &path, &tok, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = raw(&t, Method::PUT, &path, &tok, b"abc".to_vec(), OCTETS).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        message(&a),
        "Properties disk_format, container_format must be set prior to saving data.<br /><br />\n\n\n"
    );
    let a = raw(
        &t,
        Method::PUT,
        &path,
        &tok,
        b"abc".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{id}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["status"], "queued");

    let id = create(
        &t,
        &tok,
        json!({"name": "big", "disk_format": "qcow2", "container_format": "bare"}),
    )
    .await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = format!("/image/v2/images/{id}/file");
    let a = raw(&t, Method::PUT, &path, &tok, data.clone(), OCTETS).await;
    assert_eq!(
        a.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not qcow2 bytes"
    );
    assert_eq!(
        message(&a),
        "The request media type application/octet-stream is not supported by this server.\n<br /><br />\n"
    );
    let show = format!("/image/v2/images/{id}");
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/disk_format", "value": "raw"}]),
    )
    .await;
    assert_eq!(
        a.body["status"], "queued",
        "a refused upload leaves it queued"
    );
    let a = raw(&t, Method::PUT, &path, &tok, data.clone(), OCTETS).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = call(&t, Method::GET, &show, &tok, None).await;
    let digests = super::Digests::of(&data);
    assert_eq!(a.body["size"], 3_000_000);
    assert_eq!(a.body["virtual_size"], 3_000_000);
    assert_eq!(a.body["checksum"], digests.md5);
    assert_eq!(a.body["os_hash_value"], digests.sha512);
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]),
    )
    .await;
    assert_eq!(
        message(&a),
        "Attribute disk_format can be only replaced for a queued image.<br /><br />\n\n\n"
    );
}

#[tokio::test]
async fn json_patch_as_glance() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let id = create(&t, &tok, json!({"name": "capture-image", "disk_format": "raw", "container_format": "bare", "capture_origin": "fedstack"})).await;
    let a = patch(&t, &tok, &id, json!([{"op": "add", "path": "/capture_prop", "value": "captured"}, {"op": "replace", "path": "/name", "value": "capture-image-renamed"}])).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let expected = sample("008-images-update-json-patch");
    assert_eq!(keys(&a.body)[..3], keys(&expected)[..3]);
    assert_eq!(a.body["name"], "capture-image-renamed");
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "remove", "path": "/capture_origin"}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.get("capture_origin").is_none());
    assert_eq!(a.body["capture_prop"], "captured");

    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/id", "value": "dcd3e09b-7636-4234-bd59-7aeb7cbe9c15"}]),
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            StatusCode::FORBIDDEN,
            sample("027-images-update-read-only-attribute")
        )
    );
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "frobnicate", "path": "/name", "value": "x"}]),
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (StatusCode::BAD_REQUEST, sample("028-images-update-bad-op"))
    );
    let a = call(
        &t,
        Method::PATCH,
        &format!("/image/v2/images/{id}"),
        &tok,
        Some(json!([{"op": "replace", "path": "/name", "value": "x"}])),
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            sample("029-images-update-wrong-content-type")
        )
    );
    assert_eq!(
        a.headers["accept-patch"],
        "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"
    );

    let a = patch(&t, &tok, &id, json!([{"op": "remove", "path": "/name"}])).await;
    assert_eq!(
        message(&a),
        "Property name may not be removed.<br /><br />\n\n\n"
    );
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/nope", "value": "x"}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        message(&a),
        "Property nope does not exist.<br /><br />\n\n\n"
    );
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/min_disk", "value": "x"}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(message(&a).starts_with(
        "Provided object does not match schema 'image': 'x' is not of type 'integer'"
    ));
    let a = patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
    )
    .await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete publicize_image action.<br /><br />\n\n\n"
    );
    // A failed change leaves the earlier ones of the same request unapplied.
    let a = patch(&t, &tok, &id, json!([{"op": "replace", "path": "/name", "value": "half"}, {"op": "remove", "path": "/missing"}])).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{id}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["name"], "capture-image-renamed");
}

#[tokio::test]
async fn tags_and_list_filters() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let id = create(
        &t,
        &tok,
        json!({"name": "capture-image-renamed", "visibility": "private", "tags": ["capture"]}),
    )
    .await;
    let tag = format!("/image/v2/images/{id}/tags/blue");
    let a = call(&t, Method::PUT, &tag, &tok, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = call(&t, Method::GET, "/image/v2/images?tag=blue", &tok, None).await;
    assert_eq!(a.body["images"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.body["images"][0]["tags"], json!(["capture", "blue"]));
    assert_eq!(
        a.body["first"],
        sample("013-images-list-filter-tag")["first"]
    );
    assert_eq!(
        call(&t, Method::DELETE, &tag, &tok, None).await.status,
        StatusCode::NO_CONTENT
    );
    let a = call(&t, Method::DELETE, &tag, &tok, None).await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            StatusCode::NOT_FOUND,
            sample("015-images-tag-delete-not-found")
        )
    );

    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?name=capture-image-renamed",
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["images"][0]["id"], id.as_str());
    assert_eq!(
        a.body["first"],
        sample("017-images-list-filter-name")["first"]
    );
    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?visibility=private",
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["images"].as_array().map(Vec::len), Some(1));

    let a = call(&t, Method::GET, "/image/v2/images?limit=1", &tok, None).await;
    assert_eq!(keys(&a.body), keys(&sample("016-images-list-limit-1")));
    let first = a.body["images"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(first, id, "newest first");
    assert_eq!(a.body["next"], format!("/v2/images?limit=1&marker={id}"));
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images?limit=1&marker={id}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["images"][0]["name"], "cirros");
    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?sort=name:asc,created_at:desc",
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["first"], sample("019-images-list-sorted")["first"]);
    let names: Vec<&str> = a.body["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["capture-image-renamed", "cirros"]);

    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?sort_key=bogus",
        &tok,
        None,
    )
    .await;
    assert_eq!(
        message(&a),
        "Invalid sort key: bogus. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at.<br /><br />\n\n\n"
    );
    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?marker=00000000-0000-0000-0000-000000000000",
        &tok,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = call(
        &t,
        Method::GET,
        "/image/v2/images?size_min=1&disk_format=in:raw,qcow2",
        &tok,
        None,
    )
    .await;
    assert_eq!(
        a.body["images"].as_array().map(Vec::len),
        Some(1),
        "only cirros has data"
    );
}

#[tokio::test]
async fn errors_as_the_samples() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let a = call(
        &t,
        Method::POST,
        "/image/v2/images",
        &tok,
        Some(json!({"name": "capture-bad", "disk_format": "floppy", "container_format": "bare"})),
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            StatusCode::BAD_REQUEST,
            sample("030-images-create-bad-disk-format")
        )
    );
    let a = t
        .call(Method::GET, "/image/v2/images", None, &[], None)
        .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (StatusCode::UNAUTHORIZED, sample("031-images-list-no-token"))
    );
    assert_eq!(
        a.headers["www-authenticate"],
        "Keystone uri=\"http://127.0.0.1:5000/identity\""
    );
    let a = call(
        &t,
        Method::GET,
        "/image/v2/images/93e50eb4-d91f-49df-b842-bf8f9715d968",
        &tok,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (StatusCode::NOT_FOUND, sample("026-images-show-not-found"))
    );
    let a = call(
        &t,
        Method::POST,
        "/image/v2/images",
        &tok,
        Some(json!({"name": "x", "visibility": "public"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        message(&a),
        "You are not authorized to complete publicize_image action.<br /><br />\n\n\n"
    );
    let a = call(
        &t,
        Method::POST,
        "/image/v2/images",
        &tok,
        Some(json!({"name": "x", "status": "active"})),
    )
    .await;
    assert_eq!(
        message(&a),
        "Attribute 'status' is read-only.<br /><br />\n\n\n"
    );
    let a = call(
        &t,
        Method::POST,
        "/image/v2/images",
        &tok,
        Some(json!({"name": "x", "min_ram": -1})),
    )
    .await;
    assert_eq!(
        message(&a),
        "Invalid value '-1' for parameter 'min_ram': Cannot be a negative value<br /><br />\n\n\n"
    );
    let a = call(&t, Method::POST, "/image/v2/images/some-id", &tok, None).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        message(&a),
        "The method POST is not allowed for this resource. <br /><br />\n"
    );
    let a = call(&t, Method::GET, "/image/v2/nowhere", &tok, None).await;
    assert_eq!(
        message(&a),
        "The resource could not be found.<br /><br />\n\n\n"
    );
    let a = t
        .call(Method::GET, "/image/v2/nowhere", None, &[], None)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = raw(
        &t,
        Method::POST,
        "/image/v2/images",
        &tok,
        b"{oops".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(
        message(&a),
        "Malformed JSON in request body.<br /><br />\n\n\n"
    );
}

#[tokio::test]
async fn delete_and_protection() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let id = create(&t, &tok, json!({"name": "p", "protected": true})).await;
    let path = format!("/image/v2/images/{id}");
    let a = call(&t, Method::DELETE, &path, &tok, None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        message(&a),
        format!("Image {id} is protected and cannot be deleted.<br /><br />\n\n\n")
    );
    patch(
        &t,
        &tok,
        &id,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    )
    .await;
    let a = call(&t, Method::DELETE, &path, &tok, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");
    let a = call(&t, Method::GET, &path, &tok, None).await;
    assert_eq!(
        message(&a),
        format!("No image found with ID {id}<br /><br />\n\n\n")
    );

    let cirros = cirros_id(&t.site.data.lock().image);
    let a = call(
        &t,
        Method::DELETE,
        &format!("/image/v2/images/{cirros}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete delete_image action.<br /><br />\n\n\n"
    );
}

#[tokio::test]
async fn tenant_isolation_and_sharing() {
    let t = TestSite::new().await;
    let demo = t.demo_token.clone();
    let (other, other_tok) = other_project(&t, "capture-proj").await;
    let id = create(&t, &demo, json!({"name": "mine", "visibility": "shared"})).await;
    let path = format!("/image/v2/images/{id}");
    assert_eq!(
        call(&t, Method::GET, &path, &other_tok, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&t, Method::GET, &path, &t.admin_token.clone(), None)
            .await
            .status,
        StatusCode::OK
    );

    let members = format!("{path}/members");
    let a = call(
        &t,
        Method::POST,
        &members,
        &demo,
        Some(json!({"member": other})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        keys(&a.body),
        [
            "member_id",
            "image_id",
            "status",
            "created_at",
            "updated_at",
            "schema"
        ]
    );
    assert_eq!(a.body["status"], "pending");
    let a = call(
        &t,
        Method::POST,
        &members,
        &demo,
        Some(json!({"member": other})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    assert_eq!(
        call(&t, Method::GET, &path, &other_tok, None).await.status,
        StatusCode::OK
    );
    let listed = |a: &Answer| {
        a.body["images"]
            .as_array()
            .expect("images")
            .iter()
            .any(|i| i["id"] == id.as_str())
    };
    assert!(!listed(
        &call(&t, Method::GET, "/image/v2/images", &other_tok, None).await
    ));
    assert!(listed(
        &call(
            &t,
            Method::GET,
            "/image/v2/images?member_status=pending",
            &other_tok,
            None
        )
        .await
    ));

    let me = format!("{members}/{other}");
    let a = call(
        &t,
        Method::PUT,
        &me,
        &demo,
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete modify_member action.<br /><br />\n\n\n"
    );
    let a = call(
        &t,
        Method::PUT,
        &me,
        &other_tok,
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(a.body["status"], "accepted");
    assert!(listed(
        &call(&t, Method::GET, "/image/v2/images", &other_tok, None).await
    ));
    let a = call(&t, Method::GET, &members, &other_tok, None).await;
    assert_eq!(a.body["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(a.body["schema"], "/v2/schemas/members");
    let a = call(&t, Method::DELETE, &me, &other_tok, None).await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete delete_member action.<br /><br />\n\n\n"
    );
    assert_eq!(
        call(&t, Method::DELETE, &me, &demo, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&t, Method::GET, &path, &other_tok, None).await.status,
        StatusCode::NOT_FOUND
    );

    let private = create(
        &t,
        &demo,
        json!({"name": "private", "visibility": "private"}),
    )
    .await;
    let a = call(
        &t,
        Method::POST,
        &format!("/image/v2/images/{private}/members"),
        &demo,
        Some(json!({"member": other})),
    )
    .await;
    assert_eq!(
        message(&a),
        format!("Not allowed to create members for image {private}.<br /><br />\n\n\n")
    );
}

#[tokio::test]
async fn deactivate_and_reactivate() {
    let t = TestSite::new().await;
    let admin = t.admin_token.clone();
    let demo = t.demo_token.clone();
    let id = create(&t, &admin, json!({"name": "pub", "visibility": "public", "disk_format": "raw", "container_format": "bare"})).await;
    let a = raw(
        &t,
        Method::PUT,
        &format!("/image/v2/images/{id}/file"),
        &admin,
        b"data".to_vec(),
        OCTETS,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let act = |name: &str| format!("/image/v2/images/{id}/actions/{name}");
    let a = call(&t, Method::POST, &act("deactivate"), &demo, None).await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete deactivate action.<br /><br />\n\n\n"
    );
    assert_eq!(
        call(&t, Method::POST, &act("deactivate"), &admin, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{id}/file"),
        &demo,
        None,
    )
    .await;
    assert_eq!(
        message(&a),
        "The requested image has been deactivated. Image data download is forbidden.<br /><br />\n\n\n"
    );
    let demo_project = project_id(&t, "demo");
    assert!(t
        .site
        .data
        .lock()
        .image
        .boot_image(&demo_project, &id)
        .is_none());
    assert_eq!(
        call(&t, Method::POST, &act("reactivate"), &admin, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{id}"),
        &demo,
        None,
    )
    .await;
    assert_eq!(a.body["status"], "active");
    assert!(t
        .site
        .data
        .lock()
        .image
        .boot_image(&demo_project, &id)
        .is_some());
}

#[tokio::test]
async fn schemas_and_info_are_the_samples() {
    let t = TestSite::new().await;
    for (path, name) in [
        ("/image/v2/schemas/image", "022-schemas-image"),
        ("/image/v2/schemas/images", "023-schemas-images"),
        ("/image/v2/info/import", "024-info-import"),
        ("/image/v2/info/stores", "025-info-stores"),
    ] {
        let a = t.get(path).await;
        assert_eq!(
            (a.status, a.body.clone()),
            (StatusCode::OK, sample(name)),
            "{path}"
        );
    }
}

/// Exercises the Nova/Cinder contract under the lock; returns a saving, an active and a
/// queued image.
fn contract_images(t: &TestSite, demo_project: &str) -> (String, String, String) {
    let mut g = t.site.data.lock();
    let boot = g
        .image
        .boot_image(demo_project, &cirros_id(&g.image))
        .expect("cirros is bootable");
    assert_eq!(
        (boot.disk_format.as_str(), boot.size),
        ("qcow2", boot.data.len() as u64)
    );
    assert!(boot.data.starts_with(b"QFI\xfb"));
    let new = NewImage {
        owner: demo_project.to_string(),
        name: "snap".into(),
        data: Bytes::from_static(b"disk bytes"),
        disk_format: Some("qcow2".into()),
        container_format: Some("bare".into()),
        visibility: Visibility::Private,
        properties: serde_json::Map::from_iter([
            ("image_type".to_string(), json!("snapshot")),
            ("min".to_string(), json!(1)),
        ]),
        ..Default::default()
    };
    let later = g
        .image
        .create_image_with_data(new.clone(), Utc::now() + Duration::hours(1));
    assert!(
        g.image.boot_image(demo_project, &later).is_none(),
        "still saving"
    );
    let now = g.image.create_image_with_data(new.clone(), Utc::now());
    let b = g.image.boot_image(demo_project, &now).expect("active");
    assert_eq!(b.data.as_ref(), b"disk bytes");
    assert_eq!(b.properties["min"], "1");
    let queued = g.image.create_queued(NewImage {
        data: Bytes::new(),
        disk_format: None,
        container_format: None,
        ..new
    });
    (later, now, queued)
}

/// The ID of the project named `name`.
fn project_id(t: &TestSite, name: &str) -> String {
    t.site
        .data
        .lock()
        .identity
        .project_by_name(name)
        .map(|p| p.id.clone())
        .expect("project")
}

/// The bootstrap cirros image's ID.
fn cirros_id(data: &super::ImageData) -> String {
    data.images
        .values()
        .find(|i| i.name.as_deref() == Some("cirros"))
        .map(|i| i.id.clone())
        .expect("cirros")
}

#[tokio::test]
async fn contract_for_nova_and_cinder() {
    let t = TestSite::new().await;
    let demo_project = project_id(&t, "demo");
    let (later, now, queued) = contract_images(&t, &demo_project);
    let tok = t.demo_token.clone();
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{later}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(
        (a.body["status"].as_str(), a.body["size"].is_null()),
        (Some("saving"), true)
    );
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{now}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(a.body["checksum"], super::Digests::of(b"disk bytes").md5);
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{queued}"),
        &tok,
        None,
    )
    .await;
    let expected = sample("020-images-show-server-snapshot-1");
    for k in [
        "status",
        "disk_format",
        "container_format",
        "size",
        "checksum",
        "visibility",
    ] {
        assert_eq!(a.body[k], expected[k], "{k}");
    }
    let other = project_id(&t, "admin");
    assert!(
        t.site.data.lock().image.boot_image(&other, &now).is_none(),
        "private to demo"
    );
    assert!(t.site.data.lock().image.delete_image(&now));
}

#[tokio::test]
async fn interoperable_import() {
    let t = TestSite::new().await;
    let tok = t.demo_token.clone();
    let id = create(
        &t,
        &tok,
        json!({"name": "imp", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    let show = format!("/image/v2/images/{id}");
    let import = format!("{show}/import");
    let direct = json!({"method": {"name": "glance-direct"}});
    let a = call(&t, Method::POST, &import, &tok, Some(direct.clone())).await;
    assert_eq!(
        message(&a),
        "Image needs to be staged before 'glance-direct' method can be used<br /><br />\n\n\n"
    );
    let stage = format!("{show}/stage");
    let a = raw(&t, Method::PUT, &stage, &tok, sample_data(), OCTETS).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = call(&t, Method::GET, &show, &tok, None).await;
    assert_eq!(
        (a.body["status"].as_str(), a.body["size"].as_u64()),
        (Some("uploading"), Some(1024))
    );
    assert!(a.body["checksum"].is_null());
    let a = call(&t, Method::POST, &import, &tok, Some(direct.clone())).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = call(&t, Method::GET, &show, &tok, None).await;
    assert_eq!(a.body["status"], "active");
    assert_eq!(a.body["checksum"], "b2ea9f7fcea831a4a63b213f41a8855b");
    assert_eq!(a.body["os_glance_failed_import"], "");
    let a = call(&t, Method::POST, &import, &tok, Some(direct)).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = raw(&t, Method::PUT, &stage, &tok, sample_data(), OCTETS).await;
    assert_eq!(
        message(&a),
        "Image status transition from active to uploading is not allowed<br /><br />\n\n\n"
    );

    let copy = json!({"method": {"name": "copy-image"}, "stores": ["fs"]});
    let a = call(&t, Method::POST, &import, &tok, Some(copy.clone())).await;
    assert_eq!(
        message(&a),
        "You are not authorized to complete copy_image action.<br /><br />\n\n\n"
    );
    let admin = t.admin_token.clone();
    let a = call(&t, Method::POST, &import, &admin, Some(copy)).await;
    assert_eq!(
        message(&a),
        "Image is already present at store 'fs'<br /><br />\n\n\n"
    );

    let other = create(
        &t,
        &tok,
        json!({"name": "web", "disk_format": "raw", "container_format": "bare"}),
    )
    .await;
    let web = json!({"method": {"name": "web-download", "uri": "https://example.com/disk.img"}});
    let path = format!("/image/v2/images/{other}/import");
    let a = call(&t, Method::POST, &path, &tok, Some(web)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = call(
        &t,
        Method::GET,
        &format!("/image/v2/images/{other}"),
        &tok,
        None,
    )
    .await;
    assert_eq!(
        (
            a.body["status"].as_str(),
            a.body["os_glance_failed_import"].as_str()
        ),
        (Some("queued"), Some("fs"))
    );
    let a = call(
        &t,
        Method::POST,
        &path,
        &tok,
        Some(json!({"method": {"name": "teleport"}})),
    )
    .await;
    assert_eq!(
        message(&a),
        "Unknown import method name 'teleport'.<br /><br />\n\n\n"
    );
}
