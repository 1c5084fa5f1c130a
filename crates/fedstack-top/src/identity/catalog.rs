//! The top's version documents, service catalog, services, endpoints and region.

use super::{err, links, require_admin, Res};
use crate::auth::Caller;
use crate::Top;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fedstack_api_types::keystone::{self as ks, CatalogEntry};
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The services the top offers, as (type, name, URL); one line per service.
fn entries(top: &Top) -> Vec<CatalogEntry> {
    let entry = |ty: &str, name: &str, url: String| CatalogEntry {
        service_type: ty.into(),
        name: name.into(),
        url,
    };
    vec![
        entry("identity", "keystone", top.auth_url()),
        entry(
            "compute",
            "nova",
            format!("{}/v2.1", top.service_root(Service::Compute)),
        ),
        entry("image", "glance", top.service_root(Service::Image)),
        entry("network", "neutron", top.service_root(Service::Network)),
        entry(
            "block-storage",
            "cinder",
            format!("{}/v3", top.service_root(Service::Volume)),
        ),
        entry(
            "volumev3",
            "cinderv3",
            format!("{}/v3", top.service_root(Service::Volume)),
        ),
        entry(
            "federation",
            "fedstack",
            format!("{}/fed/v1", top.public_url),
        ),
    ]
}

/// The catalog the top's tokens carry: public, internal and admin endpoints of each service
/// in the top's region, with IDs stable for the top's public URL.
pub fn catalog(top: &Top) -> Value {
    ks::catalog(&top.public_url, &top.config.region, &entries(top))
}

/// `GET /identity/`: 300 with the v3 document.
pub async fn versions(State(top): State<Arc<Top>>) -> Response {
    ks::versions_response(&top.auth_url())
}

/// `GET /identity/v3`.
pub async fn version(State(top): State<Arc<Top>>) -> Json<Value> {
    Json(json!({"version": ks::version_doc(&top.auth_url())}))
}

/// `GET /v3/services` (admin), filtered by `type`.
pub async fn services(c: Caller, Query(q): Query<HashMap<String, String>>) -> Res {
    require_admin(&c, "list_services")?;
    let items: Vec<Value> = ks::services(&c.top.auth_url(), &catalog(&c.top))
        .into_iter()
        .filter(|s| matches(&q, s, &["type", "name"]))
        .collect();
    Ok(Json(json!({"services": items, "links": links(&c.top, "/services", None)})).into_response())
}

/// `GET /v3/endpoints` (admin), filtered by `interface`, `service_id` or `region_id`.
pub async fn endpoints(c: Caller, Query(q): Query<HashMap<String, String>>) -> Res {
    require_admin(&c, "list_endpoints")?;
    let items: Vec<Value> = ks::endpoints(&c.top.auth_url(), &catalog(&c.top))
        .into_iter()
        .filter(|e| matches(&q, e, &["interface", "service_id", "region_id"]))
        .collect();
    Ok(
        Json(json!({"endpoints": items, "links": links(&c.top, "/endpoints", None)}))
            .into_response(),
    )
}

/// The top's one region.
fn region(top: &Top) -> Value {
    let id = &top.config.region;
    json!({
        "id": id, "description": "", "parent_region_id": null,
        "links": {"self": format!("{}/regions/{id}", top.auth_url())},
    })
}

/// `GET /v3/regions` (any token).
pub async fn regions(c: Caller) -> Res {
    let l = links(&c.top, "/regions", None);
    Ok(Json(json!({"regions": [region(&c.top)], "links": l})).into_response())
}

/// `GET /v3/regions/{id}` (any token).
pub async fn show_region(c: Caller, Path(id): Path<String>) -> Res {
    if id != c.top.config.region {
        return Err(not_found("region", &id));
    }
    Ok(Json(json!({"region": region(&c.top)})).into_response())
}

/// `GET /v3/services/{id}` (admin).
pub async fn show_service(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "get_service")?;
    let s = ks::services(&c.top.auth_url(), &catalog(&c.top))
        .into_iter()
        .find(|s| s["id"] == id.as_str())
        .ok_or_else(|| not_found("service", &id))?;
    Ok(Json(json!({ "service": s })).into_response())
}

/// `GET /v3/endpoints/{id}` (admin).
pub async fn show_endpoint(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "get_endpoint")?;
    let e = ks::endpoints(&c.top.auth_url(), &catalog(&c.top))
        .into_iter()
        .find(|e| e["id"] == id.as_str())
        .ok_or_else(|| not_found("endpoint", &id))?;
    Ok(Json(json!({ "endpoint": e })).into_response())
}

fn not_found(kind: &str, id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find {kind}: {id}."),
    )
}

/// True when each of `keys` the query filters has that value in `item`.
fn matches(q: &HashMap<String, String>, item: &Value, keys: &[&str]) -> bool {
    keys.iter()
        .all(|k| q.get(*k).is_none_or(|v| item[*k].as_str() == Some(v)))
}
