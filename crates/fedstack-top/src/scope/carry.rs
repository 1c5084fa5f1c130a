//! How a scope travels with a request: bound in the token, in an `X-Scope` header, or as
//! OpenStackoïd's `<token>!SCOPE!<json>` token suffix.

use super::expr::{ScopeError, ServiceScope};
use super::resolve::validate;
use super::AUTH_SCOPE_KEY;
use crate::sites::SiteRegistry;
use axum::http::HeaderMap;
use fedstack_api_types::keystone::AuthRequest;
use serde_json::Value;

/// The header carrying a scope, as OpenStackoïd's client sent it.
pub const HEADER: &str = "x-scope";
/// The separator of OpenStackoïd's scoped tokens: `<token>!SCOPE!<json>`.
pub const TOKEN_SUFFIX: &str = "!SCOPE!";

/// Splits a token into the token itself and the scope text of its suffix, if any.
pub fn split_token(raw: &str) -> (&str, Option<&str>) {
    match raw.split_once(TOKEN_SUFFIX) {
        Some((token, scope)) => (token, Some(scope)),
        None => (raw, None),
    }
}

/// The scope of an `X-Scope` header (an empty scope without one).
pub fn header_scope(headers: &HeaderMap) -> Result<ServiceScope, ScopeError> {
    match headers.get(HEADER) {
        None => Ok(ServiceScope::default()),
        Some(v) => ServiceScope::parse(
            v.to_str()
                .map_err(|_| ScopeError::NotAMap("the header is not ASCII text".into()))?,
        ),
    }
}

/// The scope of a request: the token's, with the services of the token suffix's scope and
/// then of the `X-Scope` header's replacing it; every site named must be registered.
pub fn request_scope(
    token_scope: &ServiceScope,
    suffix: Option<&str>,
    headers: &HeaderMap,
    sites: &SiteRegistry,
) -> Result<ServiceScope, ScopeError> {
    let scope = layered(token_scope, suffix, headers)?;
    validate(&scope, sites)?;
    Ok(scope)
}

/// The token's scope with the suffix's and then the header's services replacing its own.
fn layered(
    token_scope: &ServiceScope,
    suffix: Option<&str>,
    headers: &HeaderMap,
) -> Result<ServiceScope, ScopeError> {
    let mut scope = token_scope.clone();
    if let Some(text) = suffix {
        scope = scope.overlaid(ServiceScope::parse(text)?);
    }
    Ok(scope.overlaid(header_scope(headers)?))
}

/// The scope a token request binds: `"OS-FEDSTACK:scope"` in `auth.scope` (taken out, so
/// that a `scope` left empty asks for no Keystone scope), then `X-Scope`'s services; every
/// site named must be registered.
pub fn asked_at_issue(
    auth: &mut AuthRequest,
    headers: &HeaderMap,
    sites: &SiteRegistry,
) -> Result<ServiceScope, ScopeError> {
    let mut scope = ServiceScope::default();
    if let Some(Value::Object(keystone_scope)) = auth.scope.as_mut() {
        if let Some(v) = keystone_scope.remove(AUTH_SCOPE_KEY) {
            scope = ServiceScope::from_json(&v)?;
        }
        if keystone_scope.is_empty() {
            auth.scope = None;
        }
    }
    scope = scope.overlaid(header_scope(headers)?);
    validate(&scope, sites)?;
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedstack_api_types::Service;
    use std::time::Duration;

    #[test]
    fn suffixes_split_from_tokens() {
        assert_eq!(split_token("abc"), ("abc", None));
        assert_eq!(
            split_token(r#"abc!SCOPE!{"image": "B"}"#),
            ("abc", Some(r#"{"image": "B"}"#))
        );
    }

    #[test]
    fn header_and_suffix_override_the_token_scope() {
        let token = ServiceScope::parse(r#"{"compute": "A", "image": "A"}"#).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, r#"{"image": "C"}"#.parse().unwrap());
        let empty = SiteRegistry::new(Duration::from_secs(1));
        let merged = layered(&token, Some(r#"{"compute": "B"}"#), &headers).unwrap();
        assert_eq!(merged.get(Service::Compute).unwrap().to_string(), "B");
        assert_eq!(merged.get(Service::Image).unwrap().to_string(), "C");
        assert_eq!(
            request_scope(&token, None, &headers, &empty),
            Err(ScopeError::UnknownSite("A".into())),
            "every site named must be registered"
        );
        assert!(layered(&token, Some("{"), &headers).is_err());
        headers.insert(HEADER, "nope".parse().unwrap());
        assert!(header_scope(&headers).is_err());
        assert!(
            request_scope(&ServiceScope::default(), None, &HeaderMap::new(), &empty)
                .unwrap()
                .is_empty()
        );
    }
}
