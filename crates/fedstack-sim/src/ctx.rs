//! What every handler needs from a request: the authenticated caller ([`Ctx`]), the
//! negotiated microversion ([`Mv`]), a JSON body parsed with OpenStack's errors ([`OsJson`]),
//! and the request-id and microversion response headers.

use crate::identity::TokenInfo;
use crate::site::Site;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use fedstack_api_types::http::service_of;
use fedstack_api_types::{ApiError, Service};
use std::sync::Arc;

pub use fedstack_api_types::http::{
    compute_microversion, parse_json, read_body, service_middleware, volume_microversion, Mv,
    OsJson, COMPUTE_VERSIONS, MAX_JSON_BODY, VOLUME_VERSIONS,
};

/// The authenticated caller of a request, with its site.
pub struct Ctx {
    pub site: Arc<Site>,
    pub token: TokenInfo,
    pub service: Service,
}

impl Ctx {
    /// True when the token carries the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.token.has_role("admin")
    }
    /// True when the token carries `role` (admin implies member and reader, member implies reader).
    pub fn has_role(&self, role: &str) -> bool {
        self.token.has_role(role)
    }
    /// The project the token is scoped to ("" for an unscoped token).
    pub fn project_id(&self) -> &str {
        self.token
            .project
            .as_ref()
            .map(|p| p.id.as_str())
            .unwrap_or("")
    }
    pub fn user_id(&self) -> &str {
        &self.token.user_id
    }
    /// An error in this request's service envelope.
    pub fn err(&self, status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError::new(self.service, status, msg)
    }
}

/// The `WWW-Authenticate` realm each service names in its 401.
fn auth_realm(site: &Site, service: Service) -> String {
    match service {
        Service::Identity => site.auth_url(),
        _ => site.service_root(Service::Identity),
    }
}

impl FromRequestParts<Arc<Site>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, site: &Arc<Site>) -> Result<Self, ApiError> {
        let service = service_of(parts);
        let unauthorized =
            || ApiError::unauthorized(service).with_auth_uri(auth_realm(site, service));
        let token = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let info = site
            .data
            .lock()
            .identity
            .validate(token)
            .ok_or_else(unauthorized)?;
        if service != Service::Identity && info.project.is_none() {
            return Err(unauthorized());
        }
        Ok(Ctx {
            site: site.clone(),
            token: info,
            service,
        })
    }
}
