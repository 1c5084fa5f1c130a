//! The Neutron v2.0 HTTP API, nested under `/networking`.

use crate::site::Site;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The routes, nested under `/networking`.
pub fn router() -> Router<Arc<Site>> {
    Router::new().route("/", get(versions))
}

/// `GET /networking`: the one API version.
async fn versions(State(site): State<Arc<Site>>) -> Json<Value> {
    let root = site.service_root(fedstack_api_types::Service::Network);
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{root}/v2.0/")}]}]}))
}
