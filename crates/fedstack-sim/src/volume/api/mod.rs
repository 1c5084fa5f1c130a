//! Cinder v3 HTTP API: version documents, the request context every handler uses, and the
//! routes (served both as `/v3/{project_id}/...` and, from 3.67, `/v3/...`).

mod attachments;
mod misc;
mod query;
mod snapshots;
mod types;
mod volume_actions;
mod volumes;

use super::ops::{Caller, Clock};
use super::schema::bad;
use super::views::{Links, Viewer};
use crate::ctx::{volume_microversion, Ctx, Mv, VOLUME_VERSIONS};
use crate::site::Site;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::sync::Arc;

/// A handler's answer.
pub type Res = Result<Response, ApiError>;

/// The Cinder routes, nested under `/volume`.
pub fn router() -> Router<Arc<Site>> {
    let api = Router::new()
        .merge(volumes::routes())
        .merge(snapshots::routes())
        .merge(types::routes())
        .merge(attachments::routes())
        .merge(misc::routes());
    let versioned = Router::new()
        .route("/v3/", get(version_v3))
        .nest("/v3/{project_id}", api.clone())
        .nest("/v3", api)
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(axum::middleware::from_fn(volume_microversion));
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(redirect_v3))
        .merge(versioned)
        .layer(axum::middleware::from_fn(unversioned_401))
}

/// Everything a Cinder handler needs: the caller, the microversion, and how to write links.
pub struct Req {
    pub ctx: Ctx,
    pub mv: Mv,
    pub links: Links,
}

impl FromRequestParts<Arc<Site>> for Req {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, site: &Arc<Site>) -> Result<Self, ApiError> {
        let ctx = Ctx::from_request_parts(parts, site).await?;
        let mv = Mv::from_request_parts(parts, site).await?;
        let url_project = RawPathParams::from_request_parts(parts, site)
            .await
            .ok()
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "project_id")
                    .map(|(_, v)| v.to_string())
            });
        if url_project
            .as_deref()
            .is_some_and(|p| p != ctx.project_id())
        {
            return Err(bad("Malformed request url"));
        }
        let links = Links {
            root: site.service_root(Service::Volume),
            project: url_project,
        };
        Ok(Req { ctx, mv, links })
    }
}

impl Req {
    /// The caller as the state functions see it.
    pub fn caller(&self) -> Caller {
        Caller {
            project_id: self.ctx.project_id().to_string(),
            user_id: self.ctx.user_id().to_string(),
            admin: self.ctx.is_admin(),
        }
    }

    /// How this caller sees records.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            mv: self.mv.0,
            admin: self.ctx.is_admin(),
            links: self.links.clone(),
        }
    }

    /// `now`, and when an operation started now ends (the site's volume delay).
    pub fn clock(&self, now: DateTime<Utc>) -> Clock {
        let delay = chrono::Duration::from_std(self.ctx.site.timing.volume())
            .unwrap_or(chrono::Duration::zero());
        Clock {
            now,
            ready_at: now + delay,
        }
    }

    /// True when the negotiated microversion is at least 3.`minor`.
    pub fn at_least(&self, minor: u16) -> bool {
        self.mv.at_least(3, minor)
    }

    /// Cinder's 403 unless the caller is an admin.
    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.ctx.is_admin() {
            Ok(())
        } else {
            Err(super::ops::policy_denied(action))
        }
    }
}

/// A JSON answer with Cinder's content type.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// An empty 202 as Cinder writes it (webob's default content type).
pub fn accepted_empty() -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// Cinder's 404 for a route that exists only from a later microversion.
pub fn version_not_found() -> ApiError {
    ApiError::not_found(Service::Volume, "The resource could not be found.")
}

/// The version document of v3 (`self` link to `.../v3/`).
fn version_doc(site: &Site) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": VOLUME_VERSIONS.max.to_string(),
        "min_version": VOLUME_VERSIONS.min.to_string(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/v3/", site.service_root(Service::Volume))},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"},
        ],
    })
}

/// `GET /volume`: the versions list, with Cinder's 300.
async fn versions(axum::extract::State(site): axum::extract::State<Arc<Site>>) -> Response {
    let mut r = json_response(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": [version_doc(&site)]}),
    );
    r.headers_mut().insert(
        "openstack-api-version",
        HeaderValue::from_static("volume 3.0"),
    );
    r
}

/// `GET /volume/v3`: Cinder redirects to the trailing-slash form.
async fn redirect_v3(axum::extract::State(site): axum::extract::State<Arc<Site>>) -> Response {
    let location = format!("{}/v3/", site.service_root(Service::Volume));
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf8"),
    );
    r
}

/// `GET /volume/v3/`: the v3 version document (authenticated, as Cinder's pipeline).
async fn version_v3(req: Req) -> Res {
    let site = req.ctx.site.clone();
    Ok(json_response(
        StatusCode::OK,
        json!({"versions": [version_doc(&site)]}),
    ))
}

/// Cinder's answer (after authentication) for a path or method it has no route for.
async fn unknown_route(_authenticated: Req) -> Res {
    Err(version_not_found())
}

/// keystonemiddleware answers 401 before Cinder negotiates a microversion: no version headers.
async fn unversioned_401(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED {
        let h = resp.headers_mut();
        h.remove("openstack-api-version");
        h.remove(header::VARY);
    }
    resp
}
