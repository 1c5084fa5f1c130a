//! Glance's errors and response shapes, worded as Glance (webob) words them.

use crate::http::{read_body, MAX_JSON_BODY};
use crate::{ApiError, Service};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// webob's 401 explanation, as keystonemiddleware's rejection reaches a Glance client.
pub const UNAUTHORIZED: &str = "This server could not verify that you are authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.";

/// An error in Glance's envelope.
pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Image, status, msg)
}

/// A 400 in Glance's envelope.
pub fn bad_request(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

/// A 403 in Glance's envelope.
pub fn forbidden(msg: impl Into<String>) -> ApiError {
    err(StatusCode::FORBIDDEN, msg)
}

/// A 409 in Glance's envelope.
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

/// The 409 of a create with an ID already taken.
pub fn duplicate_id(id: &str) -> ApiError {
    conflict(format!("Image ID {id} already exists!"))
}

/// The 403 of deleting a protected image.
pub fn protected(id: &str) -> ApiError {
    forbidden(format!("Image {id} is protected and cannot be deleted."))
}

/// The tags and members controllers word their 404 their own way.
pub fn not_found_in_controller(e: ApiError, id: &str) -> ApiError {
    if e.status == StatusCode::NOT_FOUND {
        err(StatusCode::NOT_FOUND, format!("Image {id} not found."))
    } else {
        e
    }
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

/// webob's 405 for a method a Glance route does not take.
pub fn method_not_allowed(method: &Method) -> Response {
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

/// A JSON request body as Glance's deserializer reads it.
pub async fn json_body(body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body, MAX_JSON_BODY)
        .await
        .map_err(|_| ApiError::too_large(Service::Image))?;
    if bytes.is_empty() {
        return Err(bad_request("Body expected in request."));
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError::malformed_body(Service::Image))
}
