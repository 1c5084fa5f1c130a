//! From a site expression to the sites a request uses: registry names, health (`|`), and
//! failover on a real connection failure.

use super::expr::{ScopeError, ServiceScope, SiteExpr};
use crate::sites::{SiteHandle, SiteRegistry};
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use std::future::Future;
use std::sync::Arc;

/// Checks that every site a scope names is registered.
pub fn validate(scope: &ServiceScope, sites: &SiteRegistry) -> Result<(), ScopeError> {
    match scope.site_names().find(|n| sites.find(n).is_none()) {
        Some(unknown) => Err(ScopeError::UnknownSite(unknown.into())),
        None => Ok(()),
    }
}

/// A scope error in `service`'s envelope (400).
pub fn bad_scope(service: Service, e: ScopeError) -> ApiError {
    ApiError::new(
        service,
        StatusCode::BAD_REQUEST,
        format!("Invalid scope: {e}."),
    )
}

/// The sites an expression names, in its order (400 for a name not registered).
pub fn named_sites(
    top: &Top,
    service: Service,
    expr: &SiteExpr,
) -> Result<Vec<Arc<SiteHandle>>, ApiError> {
    expr.names()
        .iter()
        .map(|n| {
            top.sites
                .find(n)
                .ok_or_else(|| bad_scope(service, ScopeError::UnknownSite(n.clone())))
        })
        .collect()
}

/// 503 naming the sites of an expression none of which is up.
fn none_up(service: Service, expr: &SiteExpr) -> ApiError {
    ApiError::new(
        service,
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "No site of the {} scope '{expr}' is available; try again later.",
            super::expr::scope_key(service)
        ),
    )
}

/// The sites a scoped read (list, show) covers: `A` → A (a site that is down keeps its
/// last known resources), `A & B` → both, `A | B` → the first one up by the health checks.
pub fn read_sites(
    top: &Top,
    service: Service,
    expr: &SiteExpr,
) -> Result<Vec<Arc<SiteHandle>>, ApiError> {
    let sites = named_sites(top, service, expr)?;
    match expr {
        SiteExpr::First(_) => sites
            .into_iter()
            .find(|s| s.is_up())
            .map(|s| vec![s])
            .ok_or_else(|| none_up(service, expr)),
        _ => Ok(sites),
    }
}

/// The sites a scoped create may go to, in order of preference: `A` → A (503 naming it
/// when down), `A & B` → those that take new resources (placement chooses among them),
/// `A | B` → those up, in order (try them with [`first_answering`]).
pub fn write_sites(
    top: &Top,
    service: Service,
    expr: &SiteExpr,
) -> Result<Vec<Arc<SiteHandle>>, ApiError> {
    let sites = named_sites(top, service, expr)?;
    let usable: Vec<_> = match expr {
        SiteExpr::One(_) => sites.into_iter().filter(|s| s.is_up()).collect(),
        SiteExpr::All(_) => sites.into_iter().filter(|s| s.schedulable()).collect(),
        SiteExpr::First(_) => sites
            .into_iter()
            .filter(|s| s.record.enabled && s.is_up())
            .collect(),
    };
    if usable.is_empty() {
        return Err(none_up(service, expr));
    }
    Ok(usable)
}

/// True for an error meaning the site was not reached at all (connection refused, or known
/// down), after which trying another site is safe. A timeout is not: the site may have
/// acted.
pub fn unreachable(e: &ApiError) -> bool {
    e.status == StatusCode::SERVICE_UNAVAILABLE
        && (e.message.contains("site unreachable") || e.message.contains("is not available;"))
}

/// Runs `attempt` on each site in turn and answers the first result, falling over to the
/// next site only when a site could not be reached ([`unreachable`]).
pub async fn first_answering<T, F, Fut>(
    service: Service,
    sites: &[Arc<SiteHandle>],
    mut attempt: F,
) -> Result<T, ApiError>
where
    F: FnMut(Arc<SiteHandle>) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut last = None;
    for site in sites {
        match attempt(site.clone()).await {
            Err(e) if unreachable(&e) => {
                tracing::warn!(site = %site.name(), error = %e.message, "site unreachable; falling over to the next site of the scope");
                last = Some(e);
            }
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| {
        ApiError::new(
            service,
            StatusCode::SERVICE_UNAVAILABLE,
            "No site of the scope is available; try again later.",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreached_sites_fall_over() {
        let e = |status, m: &str| ApiError::new(Service::Compute, status, m);
        assert!(unreachable(&e(
            StatusCode::SERVICE_UNAVAILABLE,
            "Site A is not available: site unreachable: connection refused"
        )));
        assert!(unreachable(&e(
            StatusCode::SERVICE_UNAVAILABLE,
            "Site A (availability zone A) is not available; try again later."
        )));
        assert!(!unreachable(&e(
            StatusCode::SERVICE_UNAVAILABLE,
            "Site A is not available: site did not answer within 5s"
        )));
        assert!(!unreachable(&e(
            StatusCode::BAD_REQUEST,
            "site unreachable"
        )));
    }
}
