//! What Glance tells clients about itself: API versions, import methods, stores, and the
//! headers of a created image.

use super::respond::json;
use super::STORE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

/// `OpenStack-image-import-methods` and `/v2/info/import`.
pub const IMPORT_METHODS: [&str; 3] = ["glance-direct", "web-download", "copy-image"];
/// `OpenStack-image-store-ids`.
const STORE_IDS: &str = "fs,os_glance_staging_store,os_glance_tasks_store";

/// The API versions Glance 2026.1 lists, in its own order.
const VERSIONS: [(&str, &str); 16] = [
    ("v2.15", "SUPPORTED"),
    ("v2.13", "SUPPORTED"),
    ("v2.12", "SUPPORTED"),
    ("v2.11", "SUPPORTED"),
    ("v2.10", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.8", "SUPPORTED"),
    ("v2.17", "CURRENT"),
    ("v2.7", "SUPPORTED"),
    ("v2.6", "SUPPORTED"),
    ("v2.5", "SUPPORTED"),
    ("v2.4", "SUPPORTED"),
    ("v2.3", "SUPPORTED"),
    ("v2.2", "SUPPORTED"),
    ("v2.1", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
];

/// The version list of a Glance whose root is `service_root` (e.g. `http://h:p/image`).
pub fn versions(service_root: &str) -> Value {
    let href = format!("{service_root}/v2/");
    let versions: Vec<Value> = VERSIONS
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

/// `GET /v2/info/import`.
pub fn info_import() -> Value {
    json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": IMPORT_METHODS}})
}

/// `GET /v2/info/stores`.
pub fn info_stores() -> Value {
    json!({"stores": [{"id": STORE, "default": "true"}]})
}

/// The 201 of `POST /v2/images`: the image, its `Location` and the import headers.
pub fn created(image: Value, location: &str) -> Response {
    let mut r = json(StatusCode::CREATED, image);
    let h = r.headers_mut();
    for (name, value) in [
        ("location", location),
        ("openstack-image-import-methods", &IMPORT_METHODS.join(",")),
        ("openstack-image-store-ids", STORE_IDS),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    r
}
