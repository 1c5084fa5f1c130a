//! Nova behaviour checked against the captured samples of a real Nova 2026.1.

use crate::testing::{Answer, TestSite};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

/// The response body of a captured sample (`compute/NNN-...`).
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/openstack-samples/compute/{name}.json",
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
fn same_keys(want: &Value, got: &Value) {
    assert_eq!(keys(want), keys(got), "got {got}");
}

async fn call(
    t: &TestSite,
    method: Method,
    path: &str,
    mv: Option<&str>,
    body: Option<Value>,
) -> Answer {
    call_as(t, &t.demo_token.clone(), method, path, mv, body).await
}

async fn call_as(
    t: &TestSite,
    token: &str,
    method: Method,
    path: &str,
    mv: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let header = mv.map(|v| format!("compute {v}"));
    let headers: Vec<(&str, &str)> = header
        .iter()
        .map(|h| ("openstack-api-version", h.as_str()))
        .collect();
    t.call(
        method,
        &format!("/compute/v2.1{path}"),
        Some(token),
        &headers,
        body,
    )
    .await
}

async fn get(t: &TestSite, path: &str, mv: Option<&str>) -> Answer {
    call(t, Method::GET, path, mv, None).await
}

async fn admin_get(t: &TestSite, path: &str, mv: Option<&str>) -> Answer {
    call_as(t, &t.admin_token.clone(), Method::GET, path, mv, None).await
}

async fn image_id(t: &TestSite) -> String {
    let a = t
        .call(
            Method::GET,
            "/image/v2/images?name=cirros",
            Some(&t.demo_token.clone()),
            &[],
            None,
        )
        .await;
    a.body["images"][0]["id"]
        .as_str()
        .expect("cirros")
        .to_string()
}

/// Creates a server as demo and returns its ID.
async fn boot(t: &TestSite, name: &str, extra: Value) -> String {
    let mut server =
        json!({"name": name, "imageRef": image_id(t).await, "flavorRef": "1", "networks": "auto"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        server[k] = v.clone();
    }
    let a = call(
        t,
        Method::POST,
        "/servers",
        Some("2.52"),
        Some(json!({ "server": server })),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    a.body["server"]["id"].as_str().expect("id").to_string()
}

fn err_message(a: &Answer, key: &str) -> String {
    a.body[key]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn version_documents() {
    let t = TestSite::new().await;
    let a = t.get("/compute").await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(
        &sample("001-versions")["versions"][1],
        &a.body["versions"][1],
    );
    assert_eq!(a.body["versions"][1]["version"], "2.103");
    for path in ["/compute/v2.1", "/compute/v2.1/"] {
        let a = t.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.headers["openstack-api-version"], "compute 2.1");
        same_keys(&sample("002-version-v2.1")["version"], &a.body["version"]);
    }
}

#[tokio::test]
async fn flavors_per_microversion() {
    let t = TestSite::new().await;
    let a = get(&t, "/flavors/1", None).await;
    assert_eq!(a.body, {
        let mut want = sample("006-flavors-show");
        want["flavor"]["links"] = a.body["flavor"]["links"].clone();
        want
    });
    let a = get(&t, "/flavors/1", Some("2.103")).await;
    same_keys(
        &sample("008-flavors-show-mv2.103")["flavor"],
        &a.body["flavor"],
    );
    assert_eq!(a.body["flavor"]["swap"], 0);
    let a = get(&t, "/flavors/detail", None).await;
    let names: Vec<&str> = a.body["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.starts_with(&["m1.tiny", "m1.small", "m1.medium", "m1.large"]),
        "{names:?}"
    );
    let a = get(&t, "/flavors?limit=2", None).await;
    assert_eq!(a.body["flavors"].as_array().unwrap().len(), 2);
    assert!(a.body["flavors_links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/compute/v2.1/flavors?limit=2&marker=2"));
    let a = get(&t, "/flavors/does-not-exist", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body, sample("009-flavors-show-not-found"));
    let body = json!({"flavor": {"name": "custom", "ram": 256, "vcpus": 1, "disk": 1}});
    let a = call(&t, Method::POST, "/flavors", None, Some(body.clone())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let admin = t.admin_token.clone();
    let a = call_as(
        &t,
        &admin,
        Method::POST,
        "/flavors",
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call_as(&t, &admin, Method::POST, "/flavors", None, Some(body)).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        err_message(&a, "conflictingRequest"),
        "Flavor with name custom already exists."
    );
}

#[tokio::test]
async fn keypairs_like_nova() {
    let t = TestSite::new().await;
    let a = call(
        &t,
        Method::POST,
        "/os-keypairs",
        None,
        Some(json!({"keypair": {"name": "gen"}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(
        &sample("010-keypairs-create-generated")["keypair"],
        &a.body["keypair"],
    );
    let imported = sample("011-keypairs-import-mv2.103")["keypair"].clone();
    let body = json!({"keypair": {"name": "capture-key", "public_key": imported["public_key"], "type": "ssh"}});
    let a = call(
        &t,
        Method::POST,
        "/os-keypairs",
        Some("2.103"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    same_keys(&imported, &a.body["keypair"]);
    assert_eq!(a.body["keypair"]["fingerprint"], imported["fingerprint"]);
    let body = json!({"keypair": {"name": "capture-key", "public_key": imported["public_key"]}});
    let a = call(&t, Method::POST, "/os-keypairs", None, Some(body)).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.body, sample("013-keypairs-create-duplicate"));
    let a = call(
        &t,
        Method::POST,
        "/os-keypairs",
        Some("2.103"),
        Some(json!({"keypair": {"name": "capture-key-x"}})),
    )
    .await;
    assert_eq!(
        a.body,
        sample("012-keypairs-create-without-public-key-mv2.103")
    );
    let a = get(&t, "/os-keypairs", Some("2.103")).await;
    same_keys(
        &sample("015-keypairs-list-mv2.103")["keypairs"][0]["keypair"],
        &a.body["keypairs"][0]["keypair"],
    );
    let a = get(&t, "/os-keypairs/capture-key", None).await;
    same_keys(&sample("016-keypairs-show")["keypair"], &a.body["keypair"]);
    let a = call(&t, Method::DELETE, "/os-keypairs/gen", None, None).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = get(&t, "/os-keypairs/gen", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(err_message(&a, "itemNotFound").starts_with("Keypair gen not found for user "));
    let a = call(
        &t,
        Method::DELETE,
        "/os-keypairs/capture-key",
        Some("2.103"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn server_views_follow_microversions() {
    let t = TestSite::new().await;
    let id = boot(
        &t,
        "capture-vm-full",
        json!({"metadata": {"purpose": "capture"}, "tags": ["capture"]}),
    )
    .await;
    for (mv, name) in [
        (None, "029-servers-show-active-mv2.1"),
        (Some("2.47"), "030-servers-show-active-mv2.47"),
        (Some("2.79"), "031-servers-show-active-mv2.79"),
        (Some("2.96"), "032-servers-show-active-mv2.96"),
        (Some("2.103"), "033-servers-show-active-mv2.103"),
    ] {
        let a = get(&t, &format!("/servers/{id}"), mv).await;
        assert_eq!(a.status, StatusCode::OK);
        same_keys(&sample(name)["server"], &a.body["server"]);
        same_keys(
            &sample(name)["server"]["flavor"],
            &a.body["server"]["flavor"],
        );
        assert_eq!(a.body["server"]["status"], "ACTIVE");
    }
    let a = get(&t, "/servers/detail", Some("2.103")).await;
    same_keys(
        &sample("037-servers-detail-mv2.103")["servers"][0],
        &a.body["servers"][0],
    );
    let a = get(&t, &format!("/servers/{id}/ips"), None).await;
    same_keys(
        &sample("042-servers-ips")["addresses"]["private"][0],
        &a.body["addresses"]["private"][0],
    );
    let a = get(&t, &format!("/servers/{id}/os-interface"), None).await;
    same_keys(
        &sample("043-servers-os-interface-list")["interfaceAttachments"][0],
        &a.body["interfaceAttachments"][0],
    );
    let a = admin_get(&t, &format!("/servers/{id}"), Some("2.3")).await;
    let host = a.body["server"]["OS-EXT-SRV-ATTR:host"].as_str().unwrap();
    assert!(host.starts_with("testcloud-compute-"), "{host}");
    assert!(a.body["server"]["OS-EXT-SRV-ATTR:user_data"].is_null());
}

#[tokio::test]
async fn server_create_errors_match_nova() {
    let t = TestSite::new().await;
    let image = image_id(&t).await;
    let cases = [
        (
            None,
            json!({"server": {"name": "capture-bad", "imageRef": image, "flavorRef": "no-such-flavor"}}),
            "Flavor no-such-flavor could not be found.",
        ),
        (
            None,
            json!({"server": {"name": "capture-bad", "imageRef": "99277fa7-11b9-4636-9e0d-8abb580209d5", "flavorRef": "1"}}),
            "Can not find requested image",
        ),
        (
            None,
            json!({"server": {"imageRef": image, "flavorRef": "1"}}),
            "'name' is a required property",
        ),
        (
            Some("2.103"),
            json!({"server": {"name": "capture-bad", "imageRef": image, "flavorRef": "1"}}),
            "'networks' is a required property",
        ),
        (
            None,
            json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1", "networks": "none"}}),
            "is not of type 'array'",
        ),
        (
            None,
            json!({"server": {"name": "x", "imageRef": image, "flavorRef": "1", "key_name": "nope"}}),
            "Invalid key_name provided.",
        ),
    ];
    for (mv, body, msg) in cases {
        let a = call(&t, Method::POST, "/servers", mv, Some(body)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        assert!(
            err_message(&a, "badRequest").ends_with(msg),
            "{} vs {msg}",
            a.body
        );
    }
    let a = t
        .call_raw(
            Method::POST,
            "/compute/v2.1/servers",
            Some(&t.demo_token.clone()),
            &[],
            b"{\"server\": {\"name\": \"capture-bad\", \"imageRef\": ".to_vec(),
            "application/json",
        )
        .await;
    assert_eq!(a.body, sample("026-servers-create-malformed-json"));
}

#[tokio::test]
async fn server_lifecycle_with_timing() {
    let t = TestSite::with_timing(crate::config::Timing {
        build_ms: 150,
        action_ms: 150,
        volume_ms: 0,
        image_ms: 0,
    })
    .await;
    let image = image_id(&t).await;
    let a = call(
        &t,
        Method::POST,
        "/servers",
        None,
        Some(json!({"server": {"name": "capture-vm-min", "imageRef": image, "flavorRef": "1"}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    same_keys(
        &sample("020-servers-create-minimal")["server"],
        &a.body["server"],
    );
    let id = a.body["server"]["id"].as_str().unwrap().to_string();
    assert!(a.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/compute/v2.1/servers/{id}")));
    let a = get(&t, &format!("/servers/{id}"), None).await;
    same_keys(
        &sample("021-servers-show-building")["server"],
        &a.body["server"],
    );
    assert_eq!(a.body["server"]["OS-EXT-STS:task_state"], "scheduling");
    assert_eq!(a.body["server"]["hostId"], "");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let a = get(&t, &format!("/servers/{id}"), None).await;
    assert_eq!(a.body["server"]["status"], "ACTIVE");
    assert_eq!(a.body["server"]["hostId"].as_str().unwrap().len(), 56);

    let a = call(
        &t,
        Method::POST,
        &format!("/servers/{id}/action"),
        None,
        Some(json!({"os-stop": null})),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = call(
        &t,
        Method::POST,
        &format!("/servers/{id}/action"),
        None,
        Some(json!({"os-stop": null})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        err_message(&a, "conflictingRequest"),
        format!("Cannot 'stop' instance {id} while it is in task_state powering-off")
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let a = get(&t, &format!("/servers/{id}"), None).await;
    same_keys(
        &sample("063-servers-show-shutoff")["server"],
        &a.body["server"],
    );
    assert_eq!(a.body["server"]["OS-EXT-STS:power_state"], 4);
    let a = call(
        &t,
        Method::POST,
        &format!("/servers/{id}/action"),
        None,
        Some(json!({"os-stop": null})),
    )
    .await;
    assert_eq!(
        err_message(&a, "conflictingRequest"),
        format!("Cannot 'stop' instance {id} while it is in vm_state stopped")
    );
    call(
        &t,
        Method::POST,
        &format!("/servers/{id}/action"),
        None,
        Some(json!({"os-start": null})),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    call(
        &t,
        Method::POST,
        &format!("/servers/{id}/action"),
        None,
        Some(json!({"reboot": {"type": "SOFT"}})),
    )
    .await;
    let a = get(&t, &format!("/servers/{id}"), None).await;
    assert_eq!(a.body["server"]["status"], "REBOOT");
    same_keys(
        &sample("067-servers-show-rebooting")["server"],
        &a.body["server"],
    );
    let a = get(&t, &format!("/servers/{id}/os-instance-actions"), None).await;
    let actions: Vec<&str> = a.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["reboot", "start", "stop", "create"]);
    same_keys(
        &sample("074-server-instance-actions-list")["instanceActions"][0],
        &a.body["instanceActions"][0],
    );

    let a = call(&t, Method::DELETE, &format!("/servers/{id}"), None, None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = get(&t, &format!("/servers/{id}"), None).await;
    assert_eq!(a.body["server"]["OS-EXT-STS:task_state"], "deleting");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let a = get(&t, &format!("/servers/{id}"), None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        err_message(&a, "itemNotFound"),
        format!("Instance {id} could not be found.")
    );
    let a = get(
        &t,
        "/servers/detail?changes-since=2000-01-01T00:00:00Z",
        None,
    )
    .await;
    let gone = &a.body["servers"][0];
    assert_eq!(gone["status"], "DELETED");
    same_keys(
        &sample("107-servers-detail-changes-since")["servers"][1],
        gone,
    );
    let a = get(&t, "/servers/detail?changes-since=yesterday", None).await;
    assert_eq!(a.body, sample("108-servers-detail-changes-since-bad"));
}

#[tokio::test]
async fn lists_page_and_filter() {
    let t = TestSite::new().await;
    let first = boot(&t, "capture-vm-min", json!({})).await;
    let second = boot(&t, "capture-vm-full", json!({"tags": ["capture"]})).await;
    let a = get(&t, "/servers/detail?limit=1", None).await;
    assert_eq!(a.body["servers"][0]["id"], second.as_str());
    let next = a.body["servers_links"][0]["href"].as_str().unwrap();
    assert!(
        next.ends_with(&format!(
            "/compute/v2.1/servers/detail?limit=1&marker={second}"
        )),
        "{next}"
    );
    let a = get(&t, &format!("/servers?limit=1&marker={second}"), None).await;
    assert_eq!(a.body["servers"][0]["id"], first.as_str());
    let a = get(&t, "/servers?name=capture-vm-full", None).await;
    assert_eq!(a.body["servers"].as_array().unwrap().len(), 1);
    let a = get(&t, "/servers?tags=capture", Some("2.26")).await;
    assert_eq!(a.body["servers"][0]["id"], second.as_str());
    assert_eq!(a.body["servers"].as_array().unwrap().len(), 1);
    let a = get(
        &t,
        "/servers?marker=f1274131-063c-4ef7-a4cf-fae22b00ff28",
        None,
    )
    .await;
    assert_eq!(a.body, sample("041-servers-list-bad-marker"));
    let a = admin_get(&t, "/servers", None).await;
    assert!(
        a.body["servers"].as_array().unwrap().is_empty(),
        "admin sees its own project"
    );
    let a = admin_get(&t, "/servers?all_tenants=True", None).await;
    assert_eq!(a.body["servers"].as_array().unwrap().len(), 2);
    let a = get(&t, "/servers?all_tenants=True", None).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn metadata_and_tags() {
    let t = TestSite::new().await;
    let id = boot(&t, "vm", json!({"metadata": {"purpose": "capture", "owner": "fedstack"}, "tags": ["capture", "full"]})).await;
    let base = format!("/servers/{id}");
    let a = call(
        &t,
        Method::POST,
        &format!("{base}/metadata"),
        None,
        Some(json!({"metadata": {"stage": "two", "owner": "steering"}})),
    )
    .await;
    assert_eq!(a.body, sample("046-server-metadata-update"));
    let a = call(
        &t,
        Method::PUT,
        &format!("{base}/metadata"),
        None,
        Some(json!({"metadata": {"purpose": "capture", "stage": "three"}})),
    )
    .await;
    assert_eq!(a.body, sample("047-server-metadata-replace"));
    let a = call(
        &t,
        Method::PUT,
        &format!("{base}/metadata/color"),
        None,
        Some(json!({"meta": {"colour": "red"}})),
    )
    .await;
    assert_eq!(a.body, sample("052-server-metadata-item-key-mismatch"));
    let a = get(&t, &format!("{base}/metadata/color"), None).await;
    assert_eq!(a.body, sample("051-server-metadata-item-show-not-found"));
    let a = call(
        &t,
        Method::PUT,
        &format!("{base}/tags"),
        Some("2.26"),
        Some(json!({"tags": ["capture", "blue"]})),
    )
    .await;
    assert_eq!(a.body, sample("054-server-tags-replace-mv2.26"));
    let a = call(
        &t,
        Method::PUT,
        &format!("{base}/tags/green"),
        Some("2.26"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");
    let a = call(
        &t,
        Method::PUT,
        &format!("{base}/tags/green"),
        Some("2.26"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    call(
        &t,
        Method::DELETE,
        &format!("{base}/tags/green"),
        Some("2.26"),
        None,
    )
    .await;
    let a = get(&t, &format!("{base}/tags/green"), Some("2.26")).await;
    assert_eq!(
        err_message(&a, "itemNotFound"),
        format!("Server {id} has no tag 'green'")
    );
    let a = get(&t, &format!("{base}/tags"), None).await;
    assert_eq!(a.body, sample("060-server-tags-list-mv2.1-not-found"));
}

#[tokio::test]
async fn bad_actions_and_unrouted_methods() {
    let t = TestSite::new().await;
    let id = boot(&t, "vm", json!({})).await;
    let action = format!("/servers/{id}/action");
    let a = call(
        &t,
        Method::POST,
        &action,
        None,
        Some(json!({"reboot": {"type": "GENTLE"}})),
    )
    .await;
    assert_eq!(a.body, sample("069-server-action-reboot-bad-type"));
    let a = call(
        &t,
        Method::POST,
        &action,
        None,
        Some(json!({"os-frobnicate": null})),
    )
    .await;
    assert_eq!(a.body, sample("070-server-action-unknown"));
    let a = call(
        &t,
        Method::PATCH,
        &format!("/servers/{id}"),
        None,
        Some(json!({"server": {}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body, sample("115-servers-patch-unrouted-method"));
    assert!(a.headers.get("openstack-api-version").is_none());
    let a = get(&t, "/servers", Some("2.999")).await;
    assert_eq!(a.body, sample("113-servers-list-unsupported-microversion"));
    let a = call(
        &t,
        Method::DELETE,
        "/servers/ef705461-8bd4-4e02-8108-3fa66084c24f",
        None,
        None,
    )
    .await;
    assert_eq!(a.body, sample("109-servers-delete-unknown"));
}

#[tokio::test]
async fn create_image_holds_the_disk_bytes() {
    let t = TestSite::new().await;
    let id = boot(&t, "vm", json!({})).await;
    {
        let mut g = t.site.data.lock();
        g.compute
            .replace_disk(&id, bytes::Bytes::from_static(b"hello disk"))
            .unwrap();
        g.compute.write_disk(&id, 6, b"DISK!").unwrap();
        assert_eq!(&g.compute.disk(&id).unwrap()[..], b"hello DISK!");
    }
    let action = format!("/servers/{id}/action");
    let a = call(
        &t,
        Method::POST,
        &action,
        None,
        Some(json!({"createImage": {"name": "snap", "metadata": {"kind": "capture"}}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let location = a.headers["location"].to_str().unwrap();
    assert!(location.contains("/compute//images/"), "{location}");
    let image = location.rsplit('/').next().unwrap().to_string();
    let a = call(
        &t,
        Method::POST,
        &action,
        Some("2.103"),
        Some(json!({"createImage": {"name": "snap2"}})),
    )
    .await;
    same_keys(&sample("073-server-action-createImage-mv2.103"), &a.body);
    let g = t.site.data.lock();
    let img = &g.image.images[&image];
    assert_eq!(img.data.as_deref(), Some(&b"hello DISK!"[..]));
    assert_eq!(img.properties["image_type"], "snapshot");
    assert_eq!(img.properties["instance_uuid"], id.as_str());
    assert_eq!(img.properties["kind"], "capture");
}

#[tokio::test]
async fn quotas_limits_and_enforcement() {
    let t = TestSite::new().await;
    let a = get(&t, "/limits", None).await;
    same_keys(
        &sample("077-limits")["limits"]["absolute"],
        &a.body["limits"]["absolute"],
    );
    let a = get(&t, "/limits", Some("2.103")).await;
    same_keys(
        &sample("078-limits-mv2.103")["limits"]["absolute"],
        &a.body["limits"]["absolute"],
    );
    let project = t
        .site
        .data
        .lock()
        .identity
        .project_by_name("demo")
        .unwrap()
        .id
        .clone();
    let a = get(&t, &format!("/os-quota-sets/{project}"), None).await;
    let mut want = sample("089-os-quota-sets-show");
    want["quota_set"]["id"] = json!(project);
    assert_eq!(a.body, want);
    let a = get(
        &t,
        &format!("/os-quota-sets/{project}/detail"),
        Some("2.103"),
    )
    .await;
    same_keys(
        &sample("091-os-quota-sets-detail-mv2.103")["quota_set"],
        &a.body["quota_set"],
    );
    let admin = t.admin_token.clone();
    let a = call_as(
        &t,
        &admin,
        Method::PUT,
        &format!("/os-quota-sets/{project}"),
        None,
        Some(json!({"quota_set": {"instances": 1}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    boot(&t, "one", json!({})).await;
    let body = json!({"server": {"name": "two", "imageRef": image_id(&t).await, "flavorRef": "1"}});
    let a = call(&t, Method::POST, "/servers", None, Some(body)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        err_message(&a, "forbidden"),
        "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"
    );
}

#[tokio::test]
async fn hypervisors_services_and_zones() {
    let t = TestSite::new().await;
    let a = get(&t, "/os-hypervisors", None).await;
    assert_eq!(a.body, sample("112-os-hypervisors-forbidden-as-member"));
    let a = admin_get(&t, "/os-hypervisors/detail", None).await;
    same_keys(
        &sample("082-os-hypervisors-detail-as-admin")["hypervisors"][0],
        &a.body["hypervisors"][0],
    );
    assert_eq!(a.body["hypervisors"].as_array().unwrap().len(), 3);
    let a = admin_get(&t, "/os-hypervisors/detail", Some("2.103")).await;
    same_keys(
        &sample("084-os-hypervisors-detail-mv2.103-as-admin")["hypervisors"][0],
        &a.body["hypervisors"][0],
    );
    let a = admin_get(&t, "/os-hypervisors/statistics", None).await;
    same_keys(
        &sample("085-os-hypervisors-statistics-as-admin")["hypervisor_statistics"],
        &a.body["hypervisor_statistics"],
    );
    let a = admin_get(&t, "/os-hypervisors/statistics", Some("2.103")).await;
    assert_eq!(
        a.body,
        sample("086-os-hypervisors-statistics-mv2.103-removed-as-admin")
    );
    let a = get(&t, "/os-availability-zone", None).await;
    assert_eq!(a.body, sample("079-os-availability-zone"));
    let a = admin_get(&t, "/os-services", Some("2.103")).await;
    same_keys(
        &sample("088-os-services-mv2.103-as-admin")["services"][0],
        &a.body["services"][0],
    );
    assert!(t
        .site
        .data
        .lock()
        .compute
        .set_host_failed("testcloud-compute-2", true));
    let a = admin_get(&t, "/os-services?binary=nova-compute", None).await;
    let states: Vec<&str> = a.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["up", "down", "up"]);
}

#[tokio::test]
async fn anti_affinity_and_evacuation() {
    let t = TestSite::new().await;
    let a = call(
        &t,
        Method::POST,
        "/os-server-groups",
        None,
        Some(json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}})),
    )
    .await;
    same_keys(
        &sample("094-os-server-groups-create")["server_group"],
        &a.body["server_group"],
    );
    let gid = a.body["server_group"]["id"].as_str().unwrap().to_string();
    let a = call(
        &t,
        Method::POST,
        "/os-server-groups",
        None,
        Some(json!({"server_group": {"name": "capture-bad", "policies": ["sideways"]}})),
    )
    .await;
    assert_eq!(a.body, sample("096-os-server-groups-create-bad-policy"));
    let mut hosts = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = json!({"server": {"name": format!("m{i}"), "imageRef": image_id(&t).await, "flavorRef": "1"},
                          "os:scheduler_hints": {"group": gid}});
        let a = call(&t, Method::POST, "/servers", None, Some(body)).await;
        let id = a.body["server"]["id"].as_str().unwrap().to_string();
        let s = admin_get(&t, &format!("/servers/{id}"), None).await;
        hosts.push(
            s.body["server"]["OS-EXT-SRV-ATTR:host"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        ids.push(id);
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 3, "members share a host");
    let body = json!({"server": {"name": "m4", "imageRef": image_id(&t).await, "flavorRef": "1"},
                      "os:scheduler_hints": {"group": gid}});
    let a = call(&t, Method::POST, "/servers", None, Some(body)).await;
    let s = get(
        &t,
        &format!("/servers/{}", a.body["server"]["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s.body["server"]["status"], "ERROR");
    assert_eq!(
        s.body["server"]["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );

    let admin = t.admin_token.clone();
    let a = admin_get(&t, &format!("/servers/{}", ids[0]), None).await;
    let host = a.body["server"]["OS-EXT-SRV-ATTR:host"]
        .as_str()
        .unwrap()
        .to_string();
    let evacuate = json!({"evacuate": {}});
    let a = call_as(
        &t,
        &admin,
        Method::POST,
        &format!("/servers/{}/action", ids[0]),
        Some("2.14"),
        Some(evacuate.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err_message(&a, "badRequest"),
        format!("Compute service of {host} is still in use.")
    );
    t.site.data.lock().compute.set_host_failed(&host, true);
    let a = get(&t, &format!("/servers/{}", ids[0]), None).await;
    assert_eq!(
        a.body["server"]["status"], "ACTIVE",
        "status kept until evacuated"
    );
    let a = call_as(
        &t,
        &admin,
        Method::POST,
        &format!("/servers/{}/action", ids[0]),
        Some("2.14"),
        Some(evacuate),
    )
    .await;
    // every other host holds a member of the anti-affinity group
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    call(
        &t,
        Method::DELETE,
        &format!("/servers/{}", ids[1]),
        None,
        None,
    )
    .await;
    let a = call_as(
        &t,
        &admin,
        Method::POST,
        &format!("/servers/{}/action", ids[0]),
        Some("2.14"),
        Some(json!({"evacuate": {}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = admin_get(&t, &format!("/servers/{}", ids[0]), None).await;
    assert_ne!(a.body["server"]["OS-EXT-SRV-ATTR:host"], host.as_str());
    assert_eq!(a.body["server"]["status"], "ACTIVE");
}

async fn create_volume(t: &TestSite) -> String {
    let project = t
        .site
        .data
        .lock()
        .identity
        .project_by_name("demo")
        .unwrap()
        .id
        .clone();
    let a = t
        .call(
            Method::POST,
            &format!("/volume/v3/{project}/volumes"),
            Some(&t.demo_token.clone()),
            &[],
            Some(json!({"volume": {"size": 1, "name": "v"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    a.body["volume"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn volume_attachments_per_microversion() {
    let t = TestSite::new().await;
    let id = boot(&t, "vm", json!({})).await;
    let vol = create_volume(&t).await;
    let path = format!("/servers/{id}/os-volume_attachments");
    let body = json!({"volumeAttachment": {"volumeId": vol}});
    let a = call(&t, Method::POST, &path, None, Some(body.clone())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    same_keys(
        &sample("116-servers-os-volume_attachments-create-mv2.1")["volumeAttachment"],
        &a.body["volumeAttachment"],
    );
    assert_eq!(a.body["volumeAttachment"]["device"], "/dev/sdb");
    let a = get(&t, &path, Some("2.100")).await;
    same_keys(
        &sample("121-servers-os-volume_attachments-list-mv2.100")["volumeAttachments"][0],
        &a.body["volumeAttachments"][0],
    );
    let a = get(&t, &format!("{path}/{vol}"), None).await;
    same_keys(
        &sample("118-servers-os-volume_attachments-show-mv2.1")["volumeAttachment"],
        &a.body["volumeAttachment"],
    );
    let a = get(&t, &format!("/servers/{id}"), Some("2.103")).await;
    same_keys(
        &sample("128-servers-show-with-volume-mv2.103")["server"]
            ["os-extended-volumes:volumes_attached"][0],
        &a.body["server"]["os-extended-volumes:volumes_attached"][0],
    );
    let a = call(&t, Method::POST, &path, None, Some(body)).await;
    assert_eq!(
        err_message(&a, "badRequest"),
        format!("Invalid volume: volume {vol} is already attached to instances: {id}")
    );
    let a = call(
        &t,
        Method::DELETE,
        &format!("{path}/{vol}"),
        Some("2.103"),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let a = get(&t, &path, None).await;
    assert_eq!(
        a.body,
        sample("044-servers-os-volume_attachments-list-empty")
    );
    let unknown = "b908dccb-1926-4c6e-80c0-996fce7faf0d";
    let a = call(&t, Method::DELETE, &format!("{path}/{unknown}"), None, None).await;
    assert_eq!(
        a.body,
        sample("131-servers-os-volume_attachments-delete-not-attached")
    );
    let a = call(
        &t,
        Method::POST,
        &path,
        Some("2.103"),
        Some(json!({"volumeAttachment": {"volumeId": vol}})),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(a.raw.is_empty());
}

#[tokio::test]
async fn boot_from_volume_uses_the_volume_bytes() {
    let t = TestSite::new().await;
    let image = image_id(&t).await;
    let bdm = json!([{"boot_index": 0, "uuid": image, "source_type": "image",
                      "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}]);
    let id = boot(
        &t,
        "bfv",
        json!({"imageRef": "", "block_device_mapping_v2": bdm}),
    )
    .await;
    let a = get(&t, &format!("/servers/{id}"), Some("2.3")).await;
    assert_eq!(a.body["server"]["status"], "ACTIVE", "{}", a.body);
    assert_eq!(a.body["server"]["image"], "");
    let attached = &a.body["server"]["os-extended-volumes:volumes_attached"][0];
    assert_eq!(attached["delete_on_termination"], true);
    let vol = attached["id"].as_str().unwrap().to_string();
    {
        let g = t.site.data.lock();
        let cirros = g.image.images[&image].data.clone().unwrap();
        assert_eq!(g.compute.disk(&id).unwrap(), cirros);
        assert!(g.volume.volume_data(&vol).is_some());
    }
    call(&t, Method::DELETE, &format!("/servers/{id}"), None, None).await;
    assert!(
        t.site.data.lock().volume.volume_data(&vol).is_none(),
        "delete_on_termination"
    );
}
