//! Nova v2.1 at the top: servers routed to their sites, flavors and key pairs kept at the top
//! and made on a site when a server needs them, server groups across sites, availability
//! zones = sites, lists answered from the index.

pub mod actions;
pub mod flavors;
pub mod groups;
pub mod keypairs;
pub mod misc;
pub mod render;
pub mod servers;
pub mod translate;

#[cfg(test)]
mod tests;

use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use fedstack_api_types::http::compute_microversion;
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_site_client::SiteRequest;
use fedstack_store::routes::{kind, state, Route};
use fedstack_store::StoreError;
use serde_json::{json, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The Nova routes, nested under `/compute`.
pub fn router() -> Router<Arc<Top>> {
    let api = Router::new()
        .merge(servers::routes())
        .merge(actions::routes())
        .merge(flavors::routes())
        .merge(keypairs::routes())
        .merge(groups::routes())
        .merge(misc::routes())
        .merge(crate::quota::compute::routes())
        .layer(axum::middleware::from_fn(compute_microversion));
    Router::new().merge(misc::version_routes()).merge(api)
}

/// An error in Nova's envelope.
pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// A store failure: an internal error.
pub fn store_err(e: StoreError) -> ApiError {
    err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Nova's 404 for a server.
pub fn server_not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Instance {id} could not be found."),
    )
}

/// Nova's 403 for a policy failure.
pub fn policy(rule: &str) -> ApiError {
    err(
        StatusCode::FORBIDDEN,
        format!("Policy doesn't allow {rule} to be performed."),
    )
}

/// `self` and `bookmark` links of a top resource (`path` like `servers/<id>`).
pub fn links(top: &Top, path: &str) -> Value {
    let root = top.service_root(Service::Compute);
    json!([
        {"rel": "self", "href": format!("{root}/v2.1/{path}")},
        {"rel": "bookmark", "href": format!("{root}/{path}")},
    ])
}

/// The microversion header forwarded to a site.
pub fn with_mv(req: SiteRequest, mv: Microversion) -> SiteRequest {
    req.header("openstack-api-version", &format!("compute {mv}"))
}

/// The route of a server the caller may act on: its own project's, or any for an admin,
/// on a site of the caller's compute scope. Another project's server (or one outside the
/// scope) is "not found", as Nova says.
pub async fn owned_route(c: &Caller, id: &str) -> Result<Route, ApiError> {
    let route = c
        .top
        .store
        .route(kind::SERVER, id)
        .await
        .map_err(store_err)?;
    match route {
        Some(r)
            if r.state != state::DELETING
                && (c.is_admin() || r.project_id == c.project_id())
                && c.scope_covers(Service::Compute, r.site_id.as_deref())? =>
        {
            Ok(r)
        }
        _ => Err(server_not_found(id)),
    }
}

/// The site a route points at, for a write: 503 naming the site when it is down.
pub fn site_for_write(top: &Top, route: &Route) -> Result<Arc<SiteHandle>, ApiError> {
    let site = route
        .site_id
        .as_deref()
        .and_then(|id| top.sites.get(id))
        .ok_or_else(|| {
            err(
                StatusCode::CONFLICT,
                format!("Instance {} is not on any site.", route.top_id),
            )
        })?;
    if !site.is_up() {
        return Err(site_down(&site));
    }
    Ok(site)
}

/// Nova-enveloped 503 for a site that is down.
pub fn site_down(site: &SiteHandle) -> ApiError {
    crate::tenancy::site_down(Service::Compute, site)
}

/// A site's Nova error passed on with the site's status and message (see
/// [`crate::tenancy::site_answer_error`]).
pub fn site_answer_error(site: &SiteHandle, status: StatusCode, body: &Value) -> ApiError {
    crate::tenancy::site_answer_error(Service::Compute, site, status, body)
}
