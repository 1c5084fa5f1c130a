//! HTTP plumbing shared by the simulated site and the top, which lay their services out the
//! same way (devstack-like prefixes on one port): the service of a path, microversion
//! negotiation, request IDs, and JSON bodies parsed with each service's errors.

use crate::microversion::VersionError;
use crate::{ApiError, Microversion, Service, VersionRange};
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::Value;

/// Largest JSON request body accepted (oslo.middleware's `max_request_body_size`).
pub const MAX_JSON_BODY: usize = 114_688;

/// Compute API versions served: 2.1 to 2.103, as Nova 2026.1.
pub const COMPUTE_VERSIONS: VersionRange = VersionRange {
    min: Microversion::new(2, 1),
    max: Microversion::new(2, 103),
};
/// Block storage API versions served: 3.0 to 3.71, as Cinder 2026.1.
pub const VOLUME_VERSIONS: VersionRange = VersionRange {
    min: Microversion::new(3, 0),
    max: Microversion::new(3, 71),
};

/// The path prefix each service is served under (as devstack does).
pub fn service_prefix(service: Service) -> &'static str {
    match service {
        Service::Identity => "/identity",
        Service::Compute => "/compute",
        Service::Image => "/image",
        Service::Volume => "/volume",
        Service::Network => "/networking",
    }
}

/// The service a request path belongs to, by its prefix.
pub fn service_of_path(path: &str) -> Option<Service> {
    [
        Service::Identity,
        Service::Compute,
        Service::Image,
        Service::Volume,
        Service::Network,
    ]
    .into_iter()
    .find(|s| {
        let p = service_prefix(*s);
        path == p || (path.starts_with(p) && path.as_bytes().get(p.len()) == Some(&b'/'))
    })
}

/// Rewrites `/compute/` to `/compute` (and so on for each service root): real clouds answer
/// the version document at both.
pub fn normalize_service_root(mut req: Request) -> Request {
    let path = req.uri().path();
    let root = path
        .strip_suffix('/')
        .filter(|r| service_of_path(r).is_some() && r.matches('/').count() == 1);
    if let Some(root) = root {
        let q = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{root}{q}").parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The service a request belongs to, as [`service_middleware`] found it from the full path
/// (nested routers see a stripped path).
pub fn service_of(parts: &Parts) -> Service {
    parts
        .extensions
        .get::<Service>()
        .copied()
        .unwrap_or(Service::Identity)
}

/// The microversion negotiated for this request (compute and block storage).
#[derive(Debug, Clone, Copy)]
pub struct Mv(pub Microversion);

impl<S: Send + Sync> FromRequestParts<S> for Mv {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let service = service_of(parts);
        Ok(Mv(parts
            .extensions
            .get::<Microversion>()
            .copied()
            .unwrap_or(match service {
                Service::Volume => VOLUME_VERSIONS.min,
                _ => COMPUTE_VERSIONS.min,
            })))
    }
}

impl Mv {
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self.0.at_least(major, minor)
    }
}

/// Negotiates the compute microversion, rejects unsupported ones with Nova's 406, and echoes
/// the version in `OpenStack-API-Version` / `X-OpenStack-Nova-API-Version`.
pub async fn compute_microversion(req: Request, next: Next) -> Response {
    with_microversion(req, next, Service::Compute).await
}

/// Negotiates the block storage microversion like Cinder.
pub async fn volume_microversion(req: Request, next: Next) -> Response {
    with_microversion(req, next, Service::Volume).await
}

async fn with_microversion(mut req: Request, next: Next, service: Service) -> Response {
    let (range, name, legacy) = match service {
        Service::Volume => (VOLUME_VERSIONS, "volume", None),
        _ => (
            COMPUTE_VERSIONS,
            "compute",
            Some("x-openstack-nova-api-version"),
        ),
    };
    match range.negotiate(req.headers(), name, legacy) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let mut resp = next.run(req).await;
            set_version_headers(&mut resp, service, &v.to_string());
            resp
        }
        Err(e) => {
            let (shown, msg) = match e {
                VersionError::Unsupported(v) => (
                    v.to_string(),
                    format!(
                        "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                        range.min, range.max
                    ),
                ),
                VersionError::Invalid(ref s) => (
                    s.clone(),
                    format!("API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."),
                ),
            };
            let status = match e {
                VersionError::Unsupported(_) => StatusCode::NOT_ACCEPTABLE,
                VersionError::Invalid(_) => StatusCode::BAD_REQUEST,
            };
            let mut resp = ApiError::new(service, status, msg)
                .with_kind("computeFault")
                .into_response();
            set_version_headers(&mut resp, service, &shown);
            resp
        }
    }
}

fn set_version_headers(resp: &mut Response, service: Service, version: &str) {
    let h = resp.headers_mut();
    let (name, vary) = match service {
        Service::Volume => ("volume", "OpenStack-API-Version"),
        _ => (
            "compute",
            "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        ),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{name} {version}")) {
        h.insert(HeaderName::from_static("openstack-api-version"), v);
    }
    if service == Service::Compute {
        if let Ok(v) = HeaderValue::from_str(version) {
            h.insert(HeaderName::from_static("x-openstack-nova-api-version"), v);
        }
    }
    h.insert(axum::http::header::VARY, HeaderValue::from_static(vary));
}

/// Records the request's service (from its full path) for the extractors, and adds
/// `x-openstack-request-id` (and Nova's and Cinder's `x-compute-request-id`) to every answer.
pub async fn service_middleware(req: Request, next: Next) -> Response {
    let service = service_of_path(req.uri().path());
    let mut req = match buffer_small_body(req).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(s) = service {
        req.extensions_mut().insert(s);
    }
    let mut resp = next.run(req).await;
    let id = format!("req-{}", uuid::Uuid::new_v4());
    if let Ok(v) = HeaderValue::from_str(&id) {
        let h = resp.headers_mut();
        h.insert(HeaderName::from_static("x-openstack-request-id"), v.clone());
        if matches!(service, Some(Service::Compute | Service::Volume)) {
            h.insert(HeaderName::from_static("x-compute-request-id"), v);
        }
    }
    resp
}

/// Bodies up to this size are read before the handler runs.
const BUFFERED_BODY: u64 = 1 << 20;

/// Reads a small body (known length up to [`BUFFERED_BODY`]) before the handler runs. A
/// handler that answers an error without reading the body would otherwise leave unread bytes
/// on a keep-alive connection, which the server then closes under clients (requests,
/// keystoneauth) that send the body after the headers and reuse the connection; the real
/// services' servers read the body first. Large bodies (image data) still stream.
async fn buffer_small_body(req: Request) -> Result<Request, ApiError> {
    let small = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > 0 && n <= BUFFERED_BODY);
    if !small {
        return Ok(req);
    }
    let service = service_of_path(req.uri().path()).unwrap_or(Service::Identity);
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, BUFFERED_BODY as usize)
        .await
        .map_err(|_| ApiError::bad_request(service, "The request body could not be read."))?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// A JSON request body, parsed with the service's "malformed body" and "too large" errors.
/// Handlers validate its fields themselves, with the messages the real service uses.
pub struct OsJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for OsJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let service = req
            .extensions()
            .get::<Service>()
            .copied()
            .unwrap_or(Service::Identity);
        let bytes = read_body(req.into_body(), MAX_JSON_BODY)
            .await
            .map_err(|_| ApiError::too_large(service))?;
        parse_json(service, &bytes).map(OsJson)
    }
}

/// Reads a whole body, failing past `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, axum::BoxError> {
    Ok(Limited::new(body, limit).collect().await?.to_bytes())
}

/// Parses a JSON body as the service would: an object is required.
pub fn parse_json(service: Service, bytes: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ApiError::malformed_body(service)),
    }
}
