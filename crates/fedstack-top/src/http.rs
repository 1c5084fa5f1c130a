//! The top's HTTP surface: the OpenStack services under devstack-like prefixes and the
//! federation admin API under `/fed/v1`, on one port.

use crate::{compute, identity, image, migration, network, sites, volume, Top};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use fedstack_api_types::http::{normalize_service_root, service_middleware};
use fedstack_api_types::Service;
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::trace::TraceLayer;

/// The JSON body of a site's answer, taken out of it to be rewritten in top terms; `None`
/// (the body left as it was) when it is not JSON.
pub async fn take_json(resp: &mut Response) -> Option<serde_json::Value> {
    let bytes = axum::body::to_bytes(std::mem::take(resp.body_mut()), usize::MAX)
        .await
        .unwrap_or_default();
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(_) => {
            *resp.body_mut() = axum::body::Body::from(bytes);
            None
        }
    }
}

/// Puts a rewritten JSON body back into an answer.
pub fn put_json(resp: &mut Response, v: &serde_json::Value) {
    resp.headers_mut().remove("content-length");
    *resp.body_mut() = axum::body::Body::from(serde_json::to_vec(v).unwrap_or_default());
}

/// Errors of `/fed/v1` use Nova's envelope.
async fn federation_service(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Service::Compute);
    next.run(req).await
}

/// The whole API of a top node.
pub fn router(top: Arc<Top>) -> Router {
    let services = Router::new()
        .nest("/identity", identity::router())
        .nest("/compute", compute::router())
        .nest("/image", image::router())
        .nest("/volume", volume::router())
        .nest("/networking", network::router())
        .route("/metrics", axum::routing::get(migration::api::metrics))
        .nest(
            "/fed/v1",
            sites::api::router()
                .merge(migration::api::router())
                .layer(axum::middleware::from_fn(federation_service)),
        )
        .layer(axum::middleware::from_fn(service_middleware))
        .layer(TraceLayer::new_for_http())
        .with_state(top);
    Router::new().fallback_service(services.map_request(normalize_service_root))
}
