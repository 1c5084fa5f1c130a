//! Cinder v3 at the top: volumes and snapshots routed to their sites (an availability zone is
//! a site), lists answered from the index, volume types kept at the top and made on a site
//! when a volume needs them, and the hooks Nova at the top uses for volume attachments and
//! boot from volume.

pub mod attach;
pub mod boot;
pub mod records;
pub mod render;
pub mod snapshots;
pub mod sync;
pub mod translate;
pub mod types;
pub mod volumes;

#[cfg(test)]
mod tests;

use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::{volume_microversion, VOLUME_VERSIONS};
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_site_client::{SiteRequest, SiteResponse};
use fedstack_store::routes::{state, Route};
use fedstack_store::StoreError;
use serde_json::{json, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The microversion the index reads sites at (every field of the newest view).
pub const INDEX_MV: Microversion = VOLUME_VERSIONS.max;

/// Volume metadata key carrying the top ID on the site's volume or snapshot, so that one
/// created just before a crash is adopted under its top ID; never shown to clients.
pub const TOP_ID_KEY: &str = "fedstack_top_id";

/// The Cinder routes, nested under `/volume`: `/v3/{project_id}/...` and `/v3/...`.
pub fn router() -> Router<Arc<Top>> {
    let api = Router::new()
        .merge(volumes::routes())
        .merge(snapshots::routes())
        .merge(types::routes())
        .merge(crate::quota::volume::routes())
        .route("/os-availability-zone", get(availability_zones));
    let versioned = Router::new()
        .route("/v3/", get(version_v3))
        .nest("/v3/{project_id}", api.clone())
        .nest("/v3", api)
        .fallback(unknown_route)
        .layer(axum::middleware::from_fn(volume_microversion));
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(redirect_v3))
        .merge(versioned)
}

/// Starts the index sync of volumes and snapshots.
pub fn spawn_loops(top: &Arc<Top>) {
    tokio::spawn(sync::run(top.clone()));
}

/// An error in Cinder's envelope.
pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Volume, status, msg)
}

/// Cinder's 400.
pub fn bad(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

/// A store failure: an internal error.
pub fn store_err(e: StoreError) -> ApiError {
    err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// An error raised in another service's envelope, answered in Cinder's.
pub fn as_volume_error(e: ApiError) -> ApiError {
    ApiError {
        service: Service::Volume,
        kind: None,
        ..e
    }
}

/// An empty 202 as Cinder writes it (webob's default content type).
pub fn accepted() -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// The microversion header forwarded to a site.
pub fn with_mv(req: SiteRequest, mv: Microversion) -> SiteRequest {
    req.header("openstack-api-version", &format!("volume {mv}"))
}

/// `self` and `bookmark` links of a top record (`collection` like `volumes`).
pub fn links(top: &Top, collection: &str, id: &str) -> Value {
    let root = top.service_root(Service::Volume);
    json!([
        {"rel": "self", "href": format!("{root}/v3/{collection}/{id}")},
        {"rel": "bookmark", "href": format!("{root}/{collection}/{id}")},
    ])
}

/// The caller of a Cinder request and the path's parameters; a URL naming another project
/// than the token's is refused, as Cinder does.
pub struct Req {
    pub c: Caller,
    params: Vec<(String, String)>,
}

impl FromRequestParts<Arc<Top>> for Req {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, top: &Arc<Top>) -> Result<Self, ApiError> {
        let c = Caller::from_request_parts(parts, top).await?;
        let params: Vec<(String, String)> = RawPathParams::from_request_parts(parts, top)
            .await
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let req = Req { c, params };
        if req
            .param("project_id")
            .is_some_and(|p| p != req.c.project_id())
        {
            return Err(bad("Malformed request url"));
        }
        Ok(req)
    }
}

impl Req {
    /// A path parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The ID in the path (`volume_id`, `snapshot_id`, ...); empty when absent.
    pub fn id(&self, name: &str) -> String {
        self.param(name).unwrap_or_default().to_string()
    }
}

/// The route of a record the caller may act on: its own project's, or any for an admin.
/// Another project's record is "not found".
pub async fn owned_route(
    c: &Caller,
    kind: &str,
    id: &str,
    not_found: impl Fn(&str) -> ApiError,
) -> Result<Route, ApiError> {
    let route = c.top.store.route(kind, id).await.map_err(store_err)?;
    match route {
        Some(r)
            if r.state != state::DELETING
                && (c.is_admin() || r.project_id == c.project_id())
                && c.scope_covers(Service::Volume, r.site_id.as_deref())? =>
        {
            Ok(r)
        }
        _ => Err(not_found(id)),
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
                format!("{} {} is not on any site.", route.kind, route.top_id),
            )
        })?;
    if !site.is_up() {
        return Err(site_down(&site));
    }
    Ok(site)
}

/// Cinder-enveloped 503 for a site that is down.
pub fn site_down(site: &SiteHandle) -> ApiError {
    crate::tenancy::site_down(Service::Volume, site)
}

/// A site's Cinder error passed on with the site's status and message (see
/// [`crate::tenancy::site_answer_error`]).
pub fn site_answer_error(site: &SiteHandle, status: StatusCode, body: &Value) -> ApiError {
    crate::tenancy::site_answer_error(Service::Volume, site, status, body)
}

/// A site's error about a routed record, with the record's site ID replaced by its top ID.
pub fn site_record_error(site: &SiteHandle, route: &Route, resp: &SiteResponse) -> ApiError {
    let mut e = site_answer_error(site, resp.status, &resp.json());
    if let Some(site_id) = route.site_resource_id.as_deref() {
        e.message = e.message.replace(site_id, &route.top_id);
    }
    e
}

/// Cinder's 404 for a path it has no route for.
async fn unknown_route() -> ApiError {
    err(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// The v3 version document of the top.
fn version_doc(top: &Top) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": VOLUME_VERSIONS.max.to_string(),
        "min_version": VOLUME_VERSIONS.min.to_string(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/v3/", top.service_root(Service::Volume))},
        ],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"},
        ],
    })
}

/// `GET /volume`: the versions list, with Cinder's 300.
async fn versions(State(top): State<Arc<Top>>) -> Response {
    let mut r = (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": [version_doc(&top)]})),
    )
        .into_response();
    r.headers_mut().insert(
        "openstack-api-version",
        HeaderValue::from_static("volume 3.0"),
    );
    r
}

/// `GET /volume/v3`: Cinder redirects to the trailing-slash form.
async fn redirect_v3(State(top): State<Arc<Top>>) -> Response {
    let location = format!("{}/v3/", top.service_root(Service::Volume));
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /volume/v3/`: the v3 version document (authenticated, as Cinder's pipeline).
async fn version_v3(c: Caller) -> Res {
    Ok(Json(json!({"versions": [version_doc(&c.top)]})).into_response())
}

/// `GET /os-availability-zone`: one zone per enabled site.
async fn availability_zones(r: Req) -> Res {
    let zones: Vec<Value> =
        r.c.top
            .sites
            .all()
            .into_iter()
            .filter(|s| s.record.enabled)
            .map(|s| json!({"zoneName": s.record.az, "zoneState": {"available": s.is_up()}}))
            .collect();
    Ok(Json(json!({ "availabilityZoneInfo": zones })).into_response())
}
