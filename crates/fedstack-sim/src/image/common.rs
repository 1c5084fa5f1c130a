//! What every Glance handler shares: the caller, its permissions, Glance's errors and
//! response shapes.

use super::{Image, ImageData};
use crate::ctx::Ctx;
use crate::site::Site;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::ops::Deref;
use std::sync::Arc;

/// A handler's result.
pub type Res = Result<Response, ApiError>;

/// webob's 401 explanation, as keystonemiddleware's rejection reaches a Glance client.
const UNAUTHORIZED: &str = "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.";

/// The authenticated caller of a Glance request.
pub struct Caller(pub Ctx);

impl Deref for Caller {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.0
    }
}

impl FromRequestParts<Arc<Site>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, site: &Arc<Site>) -> Result<Self, ApiError> {
        match Ctx::from_request_parts(parts, site).await {
            Ok(ctx) => Ok(Caller(ctx)),
            Err(mut e) if e.status == StatusCode::UNAUTHORIZED => {
                e.message = UNAUTHORIZED.into();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Caller {
    /// Glance's `ADMIN_OR_PROJECT_MEMBER` rule on an image: admin, or a member of its owner.
    pub fn may_modify(&self, image: &Image) -> bool {
        self.is_admin() || (self.has_role("member") && self.project_id() == image.owner)
    }

    /// The image `id` if visible to the caller, else Glance's 404.
    pub fn image<'a>(&self, data: &'a ImageData, id: &str) -> Result<&'a Image, ApiError> {
        data.visible(self.project_id(), self.is_admin(), id)
            .ok_or_else(|| no_image(id))
    }

    /// The image `id` for a change guarded by `action` (`modify_image`, `delete_image`, ...):
    /// 404 when invisible, 403 when visible but not the caller's to change.
    pub fn image_mut<'a>(
        &self,
        data: &'a mut ImageData,
        id: &str,
        action: &str,
    ) -> Result<&'a mut Image, ApiError> {
        let allowed = self.may_modify(self.image(data, id)?);
        if !allowed {
            return Err(not_authorized(action));
        }
        data.images.get_mut(id).ok_or_else(|| no_image(id))
    }
}

/// An error in Glance's envelope.
pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Image, status, msg)
}

pub fn bad_request(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

pub fn forbidden(msg: impl Into<String>) -> ApiError {
    err(StatusCode::FORBIDDEN, msg)
}

pub fn conflict(msg: impl Into<String>) -> ApiError {
    err(StatusCode::CONFLICT, msg)
}

/// The image repository's 404.
pub fn no_image(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("No image found with ID {id}"),
    )
}

/// oslo.policy's refusal, as Glance words it.
pub fn not_authorized(action: &str) -> ApiError {
    forbidden(format!(
        "You are not authorized to complete {action} action."
    ))
}

/// webob's bare 404.
pub fn resource_not_found() -> ApiError {
    err(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// A JSON answer.
pub fn json(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Glance's empty 204, which webob labels `text/html`.
pub fn no_content() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// A webob error whose template differs from Glance's usual `explanation<br /><br />` one;
/// `message` is the full text.
fn webob_error(status: StatusCode, message: String) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = json!({
        "message": message,
        "code": format!("{} {title}", status.as_u16()),
        "title": title,
    });
    json(status, body)
}

/// webob's 415, naming the request's `Content-Type` as sent.
pub fn unsupported_media_type(headers: &HeaderMap) -> Response {
    let sent = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    webob_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("The request media type {sent} is not supported by this server.\n<br /><br />\n"),
    )
}

/// webob's 405 for a method a Glance route does not take (after authentication, as Glance).
pub async fn method_not_allowed(_: Caller, method: Method) -> Response {
    webob_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("The method {method} is not allowed for this resource. <br /><br />\n"),
    )
}

/// The request's media type without parameters (`application/json`), or "".
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
