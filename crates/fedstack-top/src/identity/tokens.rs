//! `/v3/auth/*`: issuing, validating and revoking tokens, and what a token gives access to.

use super::roles::role_ids;
use super::{authenticate, catalog, err, internal, links, users, views, Res};
use crate::auth::{Caller, Claims};
use crate::scope::carry;
use crate::scope::resolve::bad_scope;
use crate::Top;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::keystone::{self as ks, AuthRequest};
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::sync::Arc;

/// A token time as Keystone shows it (whole seconds).
fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ms.div_euclid(1000), 0).unwrap_or_default()
}

/// `{"token": {...}}` for a token's claims, with the top's catalog when asked for (and the
/// token is project-scoped).
async fn token_body(top: &Top, c: &Claims, with_catalog: bool) -> Result<Value, ApiError> {
    let ids = role_ids(top).await?;
    let roles = c
        .roles
        .iter()
        .filter_map(|n| ids.get(n).map(|id| (id.clone(), n.clone())))
        .collect();
    let application_credential = match &c.app_cred {
        Some(id) => top
            .store
            .app_credential(id)
            .await
            .map_err(internal)?
            .map(|ac| json!({"id": ac.id, "name": ac.name, "restricted": !ac.unrestricted})),
        None => None,
    };
    Ok(ks::token(&ks::TokenView {
        methods: &c.methods,
        user_id: &c.user_id,
        user_name: &c.user_name,
        audit_ids: &c.audit_ids,
        issued_at: at(c.issued_ms),
        expires_at: at(c.expires_ms),
        project: c.project.as_ref().map(|(id, n)| (id.as_str(), n.as_str())),
        roles,
        catalog: with_catalog.then(|| catalog(top)),
        application_credential,
    }))
}

/// Adds `X-Subject-Token` to an answer.
fn with_subject(mut r: Response, token: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(token) {
        r.headers_mut().insert("x-subject-token", v);
    }
    r
}

/// `POST /v3/auth/tokens`: 201 with the token in `X-Subject-Token`; a site scope asked
/// (`"OS-FEDSTACK:scope"` in `auth.scope`, or `X-Scope`) is bound to the token.
pub async fn issue(
    State(top): State<Arc<Top>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    OsJson(body): OsJson,
) -> Res {
    let mut auth = AuthRequest::parse(&body, &top.auth_url())?;
    let asked = carry::asked_at_issue(&mut auth, &headers, &top.sites)
        .map_err(|e| bad_scope(Service::Identity, e))?;
    let claims = authenticate::claims(&top, &auth, asked).await?;
    let token = top.tokens.issue(&claims);
    let body = token_body(&top, &claims, !AuthRequest::no_catalog(q.as_deref())).await?;
    Ok(with_subject(
        (StatusCode::CREATED, Json(body)).into_response(),
        &token,
    ))
}

/// The token named by `X-Subject-Token`, if valid.
fn subject(top: &Top, headers: &HeaderMap) -> Result<(String, Claims), ApiError> {
    let invalid = || err(StatusCode::NOT_FOUND, "Failed to validate token");
    let token = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(invalid)?;
    let claims = top.tokens.verify(token).ok_or_else(invalid)?;
    Ok((token.to_string(), claims))
}

/// Keystone's token policies: the token's own user, or an admin (or, to validate, a
/// service).
fn may_handle(
    c: &Caller,
    subject: &Claims,
    action: &str,
    services_too: bool,
) -> Result<(), ApiError> {
    let service = services_too && c.claims.has_role("service");
    if subject.user_id == c.user_id() || c.is_admin() || service {
        Ok(())
    } else {
        Err(ks::forbidden(action))
    }
}

/// `GET /v3/auth/tokens`: the subject token's body (`?nocatalog` leaves the catalog out).
pub async fn validate(c: Caller, RawQuery(q): RawQuery, headers: HeaderMap) -> Res {
    let (token, subject) = subject(&c.top, &headers)?;
    may_handle(&c, &subject, "validate_token", true)?;
    let body = token_body(&c.top, &subject, !AuthRequest::no_catalog(q.as_deref())).await?;
    Ok(with_subject(Json(body).into_response(), &token))
}

/// `HEAD /v3/auth/tokens`: 200 when the subject token is valid.
pub async fn check(c: Caller, headers: HeaderMap) -> Res {
    let (token, subject) = subject(&c.top, &headers)?;
    may_handle(&c, &subject, "check_token", false)?;
    let r = (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
    )
        .into_response();
    Ok(with_subject(r, &token))
}

/// `DELETE /v3/auth/tokens`: revokes the subject token (and the tokens rescoped from it).
pub async fn revoke(c: Caller, headers: HeaderMap) -> Res {
    let (_, subject) = subject(&c.top, &headers)?;
    may_handle(&c, &subject, "revoke_token", false)?;
    c.top.tokens.revoke(&subject).await.map_err(internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v3/auth/catalog`: the catalog, for project-scoped tokens.
pub async fn auth_catalog(c: Caller) -> Res {
    if c.claims.project.is_none() {
        return Err(err(
            StatusCode::FORBIDDEN,
            "A project-scoped token is required to produce a service catalog.",
        ));
    }
    let l = links(&c.top, "/auth/catalog", None);
    Ok(Json(json!({"catalog": catalog(&c.top), "links": l})).into_response())
}

/// `GET /v3/auth/projects`: the enabled projects the caller has a role on.
pub async fn auth_projects(c: Caller) -> Res {
    let items: Vec<Value> = users::projects_of(&c.top, c.user_id())
        .await?
        .iter()
        .filter(|p| p.enabled)
        .map(|p| views::project(&c.top, p))
        .collect();
    let l = links(&c.top, "/auth/projects", None);
    Ok(Json(json!({"projects": items, "links": l})).into_response())
}
