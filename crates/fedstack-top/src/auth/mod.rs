//! Authentication at the top: tokens, passwords, and the authenticated caller of a request.

pub mod tokens;

use crate::scope::resolve::bad_scope;
use crate::scope::{carry, ServiceScope, SiteExpr};
use crate::Top;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fedstack_api_types::http::service_of;
use fedstack_api_types::{ApiError, Service};
use std::sync::Arc;
pub use tokens::{Claims, TokenService};

/// Hashes a password (argon2id, random salt).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Checks a password against its hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The authenticated caller of a request to the top.
pub struct Caller {
    pub top: Arc<Top>,
    pub claims: Claims,
    pub token: String,
    pub service: Service,
    /// The request's scope: the token's, overridden by a `!SCOPE!` suffix and `X-Scope`.
    pub scope: ServiceScope,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.claims.is_admin()
    }
    /// The project of a project-scoped token ("" otherwise).
    pub fn project_id(&self) -> &str {
        self.claims.project_id().unwrap_or("")
    }
    pub fn user_id(&self) -> &str {
        &self.claims.user_id
    }
    /// The sites the request's scope pins `service` to (`None`: the federated default).
    pub fn scope_for(&self, service: Service) -> Option<&SiteExpr> {
        self.scope.get(service)
    }
    /// An error in this request's service envelope.
    pub fn err(&self, status: axum::http::StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError::new(self.service, status, msg)
    }
}

impl FromRequestParts<Arc<Top>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, top: &Arc<Top>) -> Result<Self, ApiError> {
        let service = service_of(parts);
        let realm = match service {
            Service::Identity => top.auth_url(),
            _ => top.service_root(Service::Identity),
        };
        let unauthorized = || ApiError::unauthorized(service).with_auth_uri(realm.clone());
        let raw = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        let (token, suffix) = carry::split_token(raw);
        let claims = top.tokens.verify(token).ok_or_else(unauthorized)?;
        if service != Service::Identity && claims.project.is_none() {
            return Err(unauthorized());
        }
        let scope = carry::request_scope(&claims.scope, suffix, &parts.headers, &top.sites)
            .map_err(|e| bad_scope(service, e))?;
        Ok(Caller {
            top: top.clone(),
            claims,
            token: token.to_string(),
            service,
            scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("secret");
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("secret", &h));
        assert!(!verify_password("Secret", &h));
        assert!(!verify_password("secret", "not a hash"));
    }
}
