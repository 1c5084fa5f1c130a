//! Neutron v2.0 at the top. The top is the source of truth for top networks: every network,
//! subnet, port, security group, router and floating IP is stored at the top, lists come
//! from the top's tables, and the top allocates every fixed IP and MAC (central IPAM). A
//! resource is made on a site the first time something there needs it, and its site piece
//! is recorded so the top ID never changes.

mod doc;
mod floating_ips;
mod groups;
pub mod interfaces;
pub mod ipam;
mod misc;
mod networks;
pub(crate) mod ports;
pub(crate) mod remote_groups;
mod routers;
pub mod servers;
mod sites;
mod subnets;

#[cfg(test)]
mod tests;

use crate::Top;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use axum::Router;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::StoreError;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The Neutron routes, nested under `/networking`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
        .route("/", get(misc::versions))
        .route("/v2.0", get(misc::resources))
        .route("/v2.0/", get(misc::resources))
        .route("/v2.0/extensions", get(misc::extensions))
        .merge(crate::quota::network::routes())
        .route("/v2.0/availability_zones", get(misc::availability_zones))
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route(
            "/v2.0/security-groups",
            get(groups::list).post(groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(groups::show).put(groups::update).delete(groups::delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(groups::list_rules).post(groups::create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(groups::show_rule).delete(groups::delete_rule),
        )
        .route("/v2.0/routers", get(routers::list).post(routers::create))
        .route(
            "/v2.0/routers/{id}",
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(routers::remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(floating_ips::list).post(floating_ips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floating_ips::show)
                .put(floating_ips::update)
                .delete(floating_ips::delete),
        )
}

/// A Neutron error: status, exception type and message.
pub fn neutron_error(status: StatusCode, kind: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Network, status, msg).with_kind(kind)
}

/// Neutron's 400 of its API layer.
fn bad_request(msg: impl Into<String>) -> ApiError {
    neutron_error(StatusCode::BAD_REQUEST, "HTTPBadRequest", msg)
}

/// `InvalidInput`: "Invalid input for operation: ...".
fn invalid_input(msg: impl std::fmt::Display) -> ApiError {
    neutron_error(
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        format!("Invalid input for operation: {msg}"),
    )
}

/// A store failure: an internal error.
pub(crate) fn store_err(e: StoreError) -> ApiError {
    neutron_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "HTTPInternalServerError",
        e.to_string(),
    )
}

/// `PolicyNotAuthorized` for a rule such as `rule:create_network`.
fn policy_denied(rule: &str) -> ApiError {
    neutron_error(
        StatusCode::FORBIDDEN,
        "PolicyNotAuthorized",
        format!("{rule} is disallowed by policy"),
    )
}
