//! Version documents and availability zones (one per site).

use super::Res;
use crate::auth::Caller;
use crate::Top;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova;
use fedstack_api_types::Service;
use serde_json::{json, Value};
use std::sync::Arc;

/// The unversioned documents (outside the microversion layer).
pub fn version_routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.1", get(version))
        .route("/v2.1/", get(version))
}

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/os-availability-zone", get(zones))
        .route("/v2.1/os-availability-zone/detail", get(zones))
}

async fn versions(State(top): State<Arc<Top>>) -> Json<Value> {
    Json(nova::versions(&top.service_root(Service::Compute)))
}

async fn version(State(top): State<Arc<Top>>) -> Json<Value> {
    Json(nova::version(&top.service_root(Service::Compute)))
}

/// One zone per enabled site, available while the site answers.
async fn zones(c: Caller) -> Res {
    let zones: Vec<Value> = c
        .top
        .sites
        .all()
        .iter()
        .filter(|s| s.record.enabled)
        .map(|s| json!({"zoneName": s.record.az, "zoneState": {"available": s.is_up()}, "hosts": null}))
        .collect();
    Ok(Json(json!({ "availabilityZoneInfo": zones })).into_response())
}
