//! Glance v2 images: versions, discovery, schemas, create, show, delete, tags and actions.

use super::common::{
    bad_request, conflict, err, forbidden, json, no_content, not_authorized, resource_not_found,
    Caller, Res,
};
use super::model::{Image, ImageStatus, Visibility};
use super::{new_id, schema, view};
use crate::ctx::{read_body, MAX_JSON_BODY};
use crate::site::Site;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use chrono::Utc;
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Map, Value};
use std::sync::Arc;

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

fn versions_doc(site: &Site) -> Value {
    let href = format!("{}/v2/", site.service_root(Service::Image));
    let versions: Vec<Value> = VERSIONS
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

/// `GET /image`: the version list, 300 Multiple Choices.
pub async fn versions_root(State(site): State<Arc<Site>>) -> Response {
    json(StatusCode::MULTIPLE_CHOICES, versions_doc(&site))
}

/// `GET /image/versions`.
pub async fn versions(State(site): State<Arc<Site>>) -> Response {
    json(StatusCode::OK, versions_doc(&site))
}

/// `GET /v2/info/import`.
pub async fn info_import(_: Caller) -> Response {
    json(
        StatusCode::OK,
        json!({"import-methods": {"description": "Import methods available.", "type": "array", "value": IMPORT_METHODS}}),
    )
}

/// `GET /v2/info/stores`.
pub async fn info_stores(_: Caller) -> Response {
    json(
        StatusCode::OK,
        json!({"stores": [{"id": view::STORE, "default": "true"}]}),
    )
}

/// `GET /v2/schemas/image`.
pub async fn schema_image(_: Caller) -> Response {
    json(StatusCode::OK, schema::IMAGE.clone())
}

/// `GET /v2/schemas/images`.
pub async fn schema_images(_: Caller) -> Response {
    json(StatusCode::OK, schema::IMAGES.clone())
}

/// A JSON request body as Glance's deserializer reads it.
pub async fn json_body(body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body, MAX_JSON_BODY)
        .await
        .map_err(|_| ApiError::too_large(Service::Image))?;
    if bytes.is_empty() {
        return Err(bad_request("Body expected in request."));
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_body(Service::Image))
}

/// Attributes a client may never send (`_disallowed_properties`).
const DISALLOWED: [&str; 5] = ["direct_url", "self", "file", "schema", "stores"];
/// Core attributes only Glance sets (`ImageFactory._readonly_properties`).
const READ_ONLY: [&str; 8] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
];
/// The core attributes of an image, the rest being extra properties.
pub const BASE: [&str; 17] = [
    "checksum",
    "created_at",
    "container_format",
    "disk_format",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "size",
    "virtual_size",
    "status",
    "tags",
    "owner",
    "updated_at",
    "visibility",
    "protected",
    "os_hidden",
];
/// Extra property names reserved by the deserializer and the image factory.
const RESERVED: [&str; 8] = [
    "location",
    "deleted",
    "deleted_at",
    "owner",
    "locations",
    "direct_url",
    "self",
    "file",
];

/// The 403 for a reserved attribute or one in Glance's `os_glance` namespace.
fn check_reserved(key: &str) -> Result<(), ApiError> {
    if RESERVED.contains(&key) || key.starts_with("os_glance") {
        return Err(forbidden(format!("Attribute '{key}' is reserved.")));
    }
    Ok(())
}

/// A JSON integer (jsonschema accepts `1.0`).
pub fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// `min_disk`/`min_ram` as the domain model accepts them (no negative values).
pub fn non_negative(param: &str, v: &Value) -> Result<u64, ApiError> {
    let n = int(v).unwrap_or_default();
    u64::try_from(n).map_err(|_| {
        bad_request(format!(
            "Invalid value '{n}' for parameter '{param}': Cannot be a negative value"
        ))
    })
}

/// `POST /v2/images`.
pub async fn create(caller: Caller, body: Body) -> Res {
    let body = json_body(body).await?;
    let Value::Object(mut body) = body else {
        return Err(ApiError::malformed_body(Service::Image));
    };
    if let Some(k) = DISALLOWED.iter().find(|k| body.contains_key(**k)) {
        return Err(forbidden(format!("Attribute '{k}' is read-only.")));
    }
    schema::validate_image(&Value::Object(body.clone())).map_err(bad_request)?;
    let tags = body.remove("tags");
    let (core, extra): (Map<String, Value>, Map<String, Value>) = body
        .into_iter()
        .partition(|(k, _)| BASE.contains(&k.as_str()));
    for key in extra.keys() {
        if key.chars().count() > 255 {
            return Err(bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        check_reserved(key)?;
    }
    let owner = authorize_create(&caller, &core)?;
    if let Some(k) = READ_ONLY.iter().find(|k| core.contains_key(**k)) {
        return Err(forbidden(format!("Attribute '{k}' is read-only.")));
    }
    let now = Utc::now();
    let id = core
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(new_id, str::to_string);
    let mut image = Image::new(id, owner, now);
    apply_core(&mut image, &core)?;
    image.properties = extra;
    for t in tags.iter().flat_map(|t| t.as_array()).flatten() {
        add_tag(&mut image, t.as_str().unwrap_or_default());
    }
    let site = caller.site.clone();
    let mut g = site.data.lock();
    if g.image.images.contains_key(&image.id) {
        return Err(conflict(format!("Image ID {} already exists!", image.id)));
    }
    let body = view::image(&image);
    let location = format!(
        "{}/v2/images/{}",
        site.service_root(Service::Image),
        image.id
    );
    g.image.insert(image);
    drop(g);
    let mut r = json(StatusCode::CREATED, body);
    let h = r.headers_mut();
    for (name, value) in [
        ("location", location.as_str()),
        ("openstack-image-import-methods", &IMPORT_METHODS.join(",")),
        ("openstack-image-store-ids", STORE_IDS),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(r)
}

/// The owner of a new image, if the caller may create it there with its visibility
/// (`add_image`, `publicize_image`, `communitize_image`).
fn authorize_create(caller: &Caller, core: &Map<String, Value>) -> Result<String, ApiError> {
    let owner = match core.get("owner") {
        None => caller.project_id().to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => "None".to_string(),
    };
    let member_of_owner = caller.has_role("member") && caller.project_id() == owner;
    if !caller.is_admin() && !member_of_owner {
        if owner != caller.project_id() {
            return Err(forbidden(format!(
                "You are not permitted to create images owned by '{owner}'"
            )));
        }
        return Err(not_authorized("add_image"));
    }
    if core.get("visibility").and_then(Value::as_str) == Some("public") && !caller.is_admin() {
        return Err(not_authorized("publicize_image"));
    }
    Ok(owner)
}

/// Sets the core attributes of a new image from a schema-valid body.
fn apply_core(image: &mut Image, core: &Map<String, Value>) -> Result<(), ApiError> {
    let text = |k: &str| core.get(k).and_then(Value::as_str).map(str::to_string);
    image.name = text("name");
    image.disk_format = text("disk_format");
    image.container_format = text("container_format");
    if let Some(v) = core.get("visibility").and_then(Value::as_str) {
        image.visibility = Visibility::parse(v).unwrap_or(image.visibility);
    }
    image.protected = core
        .get("protected")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    image.os_hidden = core
        .get("os_hidden")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(v) = core.get("min_disk") {
        image.min_disk = non_negative("min_disk", v)?;
    }
    if let Some(v) = core.get("min_ram") {
        image.min_ram = non_negative("min_ram", v)?;
    }
    Ok(())
}

/// Adds a tag once (tags are a set kept in insertion order).
pub fn add_tag(image: &mut Image, tag: &str) {
    if !image.tags.iter().any(|t| t == tag) {
        image.tags.push(tag.to_string());
    }
}

/// `GET /v2/images/{id}`.
pub async fn show(caller: Caller, Path(id): Path<String>) -> Res {
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(&id) {
        i.settle(Utc::now());
    }
    let image = caller.image(&g.image, &id)?;
    Ok(json(StatusCode::OK, view::image(image)))
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(caller: Caller, Path(id): Path<String>) -> Res {
    let mut g = caller.site.data.lock();
    let image = caller.image_mut(&mut g.image, &id, "delete_image")?;
    if image.protected {
        return Err(forbidden(format!(
            "Image {id} is protected and cannot be deleted."
        )));
    }
    g.image.delete_image(&id);
    Ok(no_content())
}

/// `PUT /v2/images/{id}/tags/{tag}`.
pub async fn add_tag_route(caller: Caller, Path((id, tag)): Path<(String, String)>) -> Res {
    schema::validate_image(&json!({ "tags": [tag] })).map_err(bad_request)?;
    let mut g = caller.site.data.lock();
    let image = caller
        .image_mut(&mut g.image, &id, "modify_image")
        .map_err(|e| tag_lookup_error(e, &id))?;
    add_tag(image, &tag);
    image.updated_at = Utc::now();
    Ok(no_content())
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn delete_tag(caller: Caller, Path((id, tag)): Path<(String, String)>) -> Res {
    let mut g = caller.site.data.lock();
    let image = caller
        .image_mut(&mut g.image, &id, "modify_image")
        .map_err(|e| tag_lookup_error(e, &id))?;
    let before = image.tags.len();
    image.tags.retain(|t| *t != tag);
    if image.tags.len() == before {
        return Err(resource_not_found());
    }
    image.updated_at = Utc::now();
    Ok(no_content())
}

/// The tags controller words its 404 its own way.
fn tag_lookup_error(e: ApiError, id: &str) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        err(StatusCode::NOT_FOUND, format!("Image {id} not found."))
    } else {
        e
    }
}

/// `POST /v2/images/{id}/actions/deactivate`.
pub async fn deactivate(caller: Caller, Path(id): Path<String>) -> Res {
    transition(
        &caller,
        &id,
        "deactivate",
        ImageStatus::Active,
        ImageStatus::Deactivated,
    )
}

/// `POST /v2/images/{id}/actions/reactivate`.
pub async fn reactivate(caller: Caller, Path(id): Path<String>) -> Res {
    transition(
        &caller,
        &id,
        "reactivate",
        ImageStatus::Deactivated,
        ImageStatus::Active,
    )
}

/// Moves an image `from` → `to` (a no-op when already `to`), else 403 as Glance.
fn transition(caller: &Caller, id: &str, action: &str, from: ImageStatus, to: ImageStatus) -> Res {
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(id) {
        i.settle(Utc::now());
    }
    let image = caller.image_mut(&mut g.image, id, action)?;
    match image.status {
        s if s == to => {}
        s if s == from => {
            image.status = to;
            image.updated_at = Utc::now();
        }
        s => {
            return Err(forbidden(format!(
                "Not allowed to {action} image in status '{s}'"
            )));
        }
    }
    Ok(no_content())
}

/// webob's 404 for any path Glance does not route (after authentication, as Glance).
pub async fn not_found(_: Caller) -> ApiError {
    resource_not_found()
}
