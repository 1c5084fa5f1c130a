//! The Nova router: the version documents and every route, under the microversion
//! middleware; paths and methods Nova does not route get webob's plain 404.

use super::{actions, flavors, groups, infra, keypairs, quotas, servers, subres};
use crate::ctx::compute_microversion;
use crate::site::Site;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::{nova, ApiError, Service};
use serde_json::Value;
use std::sync::Arc;

/// The Nova routes, nested under `/compute`.
pub fn router() -> Router<Arc<Site>> {
    let api = Router::new()
        .route("/v2.1", get(version))
        .route("/v2.1/", get(version))
        .merge(flavors::routes())
        .merge(keypairs::routes())
        .merge(quotas::routes())
        .merge(groups::routes())
        .merge(infra::routes())
        .merge(servers::routes())
        .merge(actions::routes())
        .merge(subres::routes())
        .layer(axum::middleware::from_fn(compute_microversion));
    Router::new()
        .route("/", get(versions))
        .merge(api)
        .method_not_allowed_fallback(unrouted)
        .fallback(unrouted)
}

/// What Nova's router answers for a path or method it does not know: webob's 404, before
/// any microversion handling.
async fn unrouted() -> ApiError {
    ApiError::new(
        Service::Image,
        StatusCode::NOT_FOUND,
        "The resource could not be found.",
    )
}

/// `GET /compute`: both API versions.
async fn versions(State(site): State<Arc<Site>>) -> Json<Value> {
    Json(nova::versions(&super::root(&site)))
}

/// `GET /compute/v2.1`: the current version.
async fn version(State(site): State<Arc<Site>>) -> Json<Value> {
    Json(nova::version(&super::root(&site)))
}
