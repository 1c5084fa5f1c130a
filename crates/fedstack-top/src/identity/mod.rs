//! Keystone v3 at the top: tokens (password, token and application credential methods), the
//! top's catalog, the default domain, projects, users, roles, grants and application
//! credentials.
//!
//! The state lives in the store and tokens are signed claims ([`crate::auth::TokenService`]):
//! whatever changes what a token says (a deleted or disabled user or project, a new password,
//! a removed grant, a deleted application credential) revokes the tokens concerned. Answers,
//! messages and policies follow Keystone's (see the simulated site's Keystone, which shares the
//! wire documents of `fedstack_api_types::keystone`).

mod app_creds;
mod authenticate;
mod catalog;
mod fields;
mod projects;
mod roles;
#[cfg(test)]
mod tests;
mod tokens;
mod users;
mod views;

pub use catalog::catalog;

use crate::auth::Caller;
use crate::Top;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use fedstack_api_types::keystone as ks;
use fedstack_api_types::{ApiError, Service};
use std::collections::HashMap;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The Keystone routes, nested under `/identity`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
        .route("/", get(catalog::versions))
        .route("/v3", get(catalog::version))
        .route("/v3/", get(catalog::version))
        .route(
            "/v3/auth/tokens",
            get(tokens::validate)
                .head(tokens::check)
                .post(tokens::issue)
                .delete(tokens::revoke),
        )
        .route("/v3/auth/catalog", get(tokens::auth_catalog))
        .route("/v3/auth/projects", get(tokens::auth_projects))
        .route("/v3/auth/domains", get(projects::auth_domains))
        .route("/v3/domains", get(projects::list_domains))
        .route("/v3/domains/{id}", get(projects::show_domain))
        .route("/v3/projects", get(projects::list).post(projects::create))
        .route(
            "/v3/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(
            "/v3/projects/{pid}/users/{uid}/roles",
            get(roles::list_grants),
        )
        .route(
            "/v3/projects/{pid}/users/{uid}/roles/{rid}",
            put(roles::grant)
                .head(roles::check_grant)
                .get(roles::check_grant)
                .delete(roles::revoke_grant),
        )
        .route("/v3/users", get(users::list).post(users::create))
        .route(
            "/v3/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/v3/users/{id}/password", post(users::change_password))
        .route("/v3/users/{id}/projects", get(users::projects))
        .route(
            "/v3/users/{id}/application_credentials",
            get(app_creds::list).post(app_creds::create),
        )
        .route(
            "/v3/users/{uid}/application_credentials/{id}",
            get(app_creds::show).delete(app_creds::delete),
        )
        .route("/v3/roles", get(roles::list).post(roles::create))
        .route("/v3/roles/{id}", get(roles::show).delete(roles::delete))
        .route("/v3/role_assignments", get(roles::list_assignments))
        .route("/v3/services", get(catalog::services))
        .route("/v3/services/{id}", get(catalog::show_service))
        .route("/v3/endpoints", get(catalog::endpoints))
        .route("/v3/endpoints/{id}", get(catalog::show_endpoint))
        .route("/v3/regions", get(catalog::regions))
        .route("/v3/regions/{id}", get(catalog::show_region))
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Identity, status, msg)
}

/// A 500 for a failure of the top itself (store, token keys), never for a client mistake.
fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("identity: {e}");
    err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Keystone's 401, with the top's realm.
fn unauthorized(top: &Top) -> ApiError {
    ks::unauthorized(&top.auth_url())
}

/// Keystone's `ValidationError` (400).
fn expecting(attribute: &str, target: &str) -> ApiError {
    err(
        StatusCode::BAD_REQUEST,
        format!(
            "Expecting to find {attribute} in {target}. The server could not comply with the \
             request since it is either malformed or otherwise incorrect. The client is assumed \
             to be in error."
        ),
    )
}

/// Keystone's default policy for admin-only actions (`identity:<action>`).
fn require_admin(c: &Caller, action: &str) -> Result<(), ApiError> {
    if c.is_admin() {
        Ok(())
    } else {
        Err(ks::forbidden(action))
    }
}

/// Keystone's `ForbiddenAction` for a rule of its own (not a policy).
fn forbidden_action(action: &str) -> ApiError {
    err(
        StatusCode::FORBIDDEN,
        format!("You are not authorized to perform the requested action: {action}."),
    )
}

/// True when the query does not filter `key`, or filters it to `value`.
fn filter_eq(q: &HashMap<String, String>, key: &str, value: &str) -> bool {
    q.get(key).is_none_or(|v| v == value)
}

/// True when the query does not filter the boolean `key`, or filters it to `value`.
fn filter_bool(q: &HashMap<String, String>, key: &str, value: bool) -> bool {
    q.get(key)
        .is_none_or(|v| fields::parse_bool(v) == Some(value))
}

/// The `links` of a collection at the top.
fn links(top: &Top, path: &str, query: Option<&str>) -> serde_json::Value {
    ks::list_links(&top.auth_url(), path, query)
}

/// Runs argon2 (hashing or checking a secret) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)
}

/// Hashes a password or secret.
async fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let s = secret.to_string();
    blocking(move || crate::auth::hash_password(&s)).await
}

/// Checks a password or secret against its hash.
async fn check_secret(secret: &str, hash: &str) -> Result<bool, ApiError> {
    let (s, h) = (secret.to_string(), hash.to_string());
    blocking(move || crate::auth::verify_password(&s, &h)).await
}

/// Revokes every token of a subject (`user:<id>`, `project:<id>`, `appcred:<id>`).
async fn revoke_subject(top: &Top, subject: String) -> Result<(), ApiError> {
    top.tokens.revoke_subject(subject).await.map_err(internal)
}
