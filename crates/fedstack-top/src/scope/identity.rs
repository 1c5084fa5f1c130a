//! Identity scoped to sites: the password of a token request is checked by the Keystone of
//! the scoped sites instead of the top's. The top then issues its own token for the top
//! user of the same name (projects and roles stay the top's: a site vouches for who the
//! user is, the top decides what the user may do).

use super::expr::SiteExpr;
use super::resolve::named_sites;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;

/// True when the sites of `expr` accept the password of `user_name` (domain Default):
/// `A` → A does, `A & B` → each of them does, `A | B` → the first that answers does. A site
/// that cannot be reached is a 503 naming it (after trying the others for `|`).
pub async fn password_accepted(
    top: &Top,
    expr: &SiteExpr,
    user_name: &str,
    password: &str,
) -> Result<bool, ApiError> {
    let sites = named_sites(top, Service::Identity, expr)?;
    let timeout = Duration::from_millis(top.config.site_timeout_ms);
    match expr {
        SiteExpr::First(_) => {
            super::first_answering(Service::Identity, &sites, |site| async move {
                site_accepts(&site, user_name, password, timeout).await
            })
            .await
        }
        _ => {
            for site in &sites {
                if !site_accepts(site, user_name, password, timeout).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

fn http() -> &'static reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(reqwest::Client::new)
}

/// Asks one site's Keystone for a token with the user's password.
async fn site_accepts(
    site: &SiteHandle,
    user_name: &str,
    password: &str,
    timeout: Duration,
) -> Result<bool, ApiError> {
    let url = format!(
        "{}/auth/tokens?nocatalog",
        site.record.auth_url.trim_end_matches('/')
    );
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user_name, "domain": {"id": "default"}, "password": password}}}}});
    let unavailable = |why: String| {
        ApiError::new(
            Service::Identity,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Site {} is not available: {why}", site.name()),
        )
    };
    let resp = http()
        .post(&url)
        .timeout(timeout)
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            unavailable(if e.is_timeout() {
                format!("site did not answer within {timeout:?}")
            } else {
                format!("site unreachable: {e}")
            })
        })?;
    match resp.status().as_u16() {
        200 | 201 => Ok(true),
        401 | 403 | 404 => Ok(false),
        503 => Err(unavailable(
            "site unreachable: its Keystone answered 503".into(),
        )),
        s => Err(ApiError::new(
            Service::Identity,
            StatusCode::BAD_GATEWAY,
            format!("Site {}'s Keystone answered {s}.", site.name()),
        )),
    }
}
