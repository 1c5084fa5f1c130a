//! Error envelopes exactly as each OpenStack service writes them.
//!
//! - Keystone: `{"error": {"code": 401, "message": "...", "title": "Unauthorized"}}`
//! - Nova and Cinder: `{"itemNotFound": {"code": 404, "message": "..."}}` (`badRequest`,
//!   `forbidden`, `conflict`, `overLimit`, ...); 401 from keystonemiddleware uses Keystone's form.
//! - Glance: webob's `{"message": "...<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`
//! - Neutron: `{"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}`

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::borrow::Cow;

/// The OpenStack service whose error conventions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Identity,
    Compute,
    Image,
    Volume,
    Network,
}

impl Service {
    /// The service type as it appears in the Keystone catalog.
    pub fn catalog_type(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Compute => "compute",
            Service::Image => "image",
            Service::Volume => "block-storage",
            Service::Network => "network",
        }
    }
}

/// `kind` marking an error rendered in webob's envelope whatever the service (errors raised by
/// middleware in front of the service).
pub const WEBOB: &str = "webob";

/// An error answered to an OpenStack client, rendered in the envelope of its service.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{service:?} {status}: {message}")]
pub struct ApiError {
    pub service: Service,
    pub status: StatusCode,
    pub message: String,
    /// Neutron's exception type (`NetworkNotFound`, `IpAddressInUse`, ...); Nova/Cinder key
    /// override (e.g. `computeFault` for a 406).
    pub kind: Option<Cow<'static, str>>,
    /// `WWW-Authenticate` realm for 401 answers.
    pub auth_uri: Option<String>,
}

impl ApiError {
    /// An error with the given status and message.
    pub fn new(service: Service, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            service,
            status,
            message: message.into(),
            kind: None,
            auth_uri: None,
        }
    }
    pub fn bad_request(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::CONFLICT, message)
    }
    pub fn forbidden(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::FORBIDDEN, message)
    }
    /// The 401 keystonemiddleware (or Keystone itself) answers.
    pub fn unauthorized(service: Service) -> Self {
        Self::new(
            service,
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    }
    /// Nova/Cinder "Malformed request body", Neutron "Body contains invalid data", ...
    pub fn malformed_body(service: Service) -> Self {
        match service {
            Service::Network => {
                Self::bad_request(service, "Body contains invalid data").with_kind("HTTPBadRequest")
            }
            Service::Image => Self::bad_request(service, "Malformed JSON in request body."),
            Service::Identity => Self::bad_request(
                service,
                "Invalid input for field 'identity': the request body is not valid JSON",
            ),
            _ => Self::bad_request(service, "Malformed request body"),
        }
    }
    /// A body larger than the service accepts. oslo.middleware's size limit answers before
    /// the service, in webob's envelope, for every service but Neutron and Keystone.
    pub fn too_large(service: Service) -> Self {
        let e = Self::new(
            service,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request is too large.",
        );
        match service {
            Service::Compute | Service::Volume => e.with_kind(WEBOB),
            _ => e,
        }
    }
    /// A site (or dependency) is not answering.
    pub fn unavailable(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::SERVICE_UNAVAILABLE, message)
    }
    /// Sets the Neutron exception type or the Nova/Cinder envelope key.
    pub fn with_kind(mut self, kind: impl Into<Cow<'static, str>>) -> Self {
        self.kind = Some(kind.into());
        self
    }
    /// Sets the `WWW-Authenticate: Keystone uri="..."` value for 401 answers.
    pub fn with_auth_uri(mut self, uri: impl Into<String>) -> Self {
        self.auth_uri = Some(uri.into());
        self
    }

    /// The JSON body in the service's envelope.
    pub fn body(&self) -> Value {
        let code = self.status.as_u16();
        let title = self.status.canonical_reason().unwrap_or("Error");
        match self.service {
            _ if self.kind.as_deref() == Some(WEBOB) => webob(&self.message, code, title),
            _ if code == 401 && self.service != Service::Image => json!({
                "error": {"code": 401, "title": "Unauthorized", "message": self.message}
            }),
            Service::Identity => json!({
                "error": {"code": code, "message": self.message, "title": title}
            }),
            Service::Compute | Service::Volume => {
                let key = match (&self.kind, code) {
                    (Some(k), _) if code != 413 => k.as_ref(),
                    (_, 400) => "badRequest",
                    (_, 403) => "forbidden",
                    (_, 404) => "itemNotFound",
                    (_, 405) => "HTTPMethodNotAllowed",
                    (_, 409) => "conflictingRequest",
                    (_, 413) => "overLimit",
                    (_, 415) => "mediaTypeNotSupported",
                    (_, 429) => "overLimit",
                    (_, 501) => "notImplemented",
                    (_, 503) => "serviceUnavailable",
                    _ => "computeFault",
                };
                let mut inner = json!({"code": code, "message": self.message});
                if key == "overLimit" {
                    inner["retryAfter"] = json!("0");
                }
                json!({ key: inner })
            }
            Service::Image => webob(&self.message, code, title),
            Service::Network => {
                let kind = self.kind.clone().unwrap_or(Cow::Borrowed(match code {
                    400 => "HTTPBadRequest",
                    401 => "HTTPUnauthorized",
                    403 => "HTTPForbidden",
                    404 => "HTTPNotFound",
                    409 => "HTTPConflict",
                    413 => "HTTPRequestEntityTooLarge",
                    503 => "HTTPServiceUnavailable",
                    _ => "HTTPInternalServerError",
                }));
                json!({"NeutronError": {"type": kind, "message": self.message, "detail": ""}})
            }
        }
    }
}

/// webob's JSON error body (webob names some statuses by their older RFC 2616 titles).
fn webob(message: &str, code: u16, title: &str) -> Value {
    let title = match code {
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        _ => title,
    };
    json!({
        "message": format!("{message}<br /><br />\n\n\n"),
        "code": format!("{code} {title}"),
        "title": title,
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.status, body).into_response();
        // keystonemiddleware (401) and webob answer plain application/json; Nova's own
        // faults add the charset.
        let plain = self.status == StatusCode::UNAUTHORIZED || self.kind.as_deref() == Some(WEBOB);
        let ctype = match self.service {
            Service::Compute if !plain => "application/json; charset=UTF-8",
            _ => "application/json",
        };
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        if self.status == StatusCode::UNAUTHORIZED {
            let uri = self.auth_uri.as_deref().unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{uri}\"")) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_follow_each_service() {
        let e = ApiError::not_found(Service::Compute, "Flavor x could not be found.");
        assert_eq!(e.body()["itemNotFound"]["code"], 404);
        let e = ApiError::not_found(Service::Network, "Network n could not be found.")
            .with_kind("NetworkNotFound");
        assert_eq!(e.body()["NeutronError"]["type"], "NetworkNotFound");
        assert_eq!(e.body()["NeutronError"]["detail"], "");
        let e = ApiError::not_found(Service::Image, "No image found with ID i");
        assert_eq!(e.body()["code"], "404 Not Found");
        assert_eq!(
            e.body()["message"],
            "No image found with ID i<br /><br />\n\n\n"
        );
        let e = ApiError::unauthorized(Service::Compute);
        assert_eq!(e.body()["error"]["title"], "Unauthorized");
        let e = ApiError::new(Service::Volume, StatusCode::PAYLOAD_TOO_LARGE, "quota");
        assert_eq!(e.body()["overLimit"]["retryAfter"], "0");
        let e = ApiError::too_large(Service::Compute);
        assert_eq!(e.body()["title"], "Request Entity Too Large");
        let e = ApiError::forbidden(Service::Identity, "no");
        assert_eq!(e.body()["error"]["title"], "Forbidden");
    }
}
