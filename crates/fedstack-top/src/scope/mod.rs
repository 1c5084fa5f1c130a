//! Scoped collaboration (after OpenStackoïd): a request can pin each service to sites.
//!
//! A scope maps service types (`compute`, `image`, `volume`, `network`, `identity`) to a site
//! expression ([`SiteExpr`]): `A` (that site), `A & B` (all of them: reads merge, creates are
//! placed among them), `A | B` (the first that answers: by health, then falling over on a
//! connection failure). Services the scope does not name keep the federated default.
//!
//! A scope travels three ways ([`carry`]): bound in a top token (`POST /v3/auth/tokens` with
//! `"OS-FEDSTACK:scope"` in `auth.scope`, or an `X-Scope` header; token exchange keeps it), in
//! an `X-Scope` header on any request, or as OpenStackoïd's `<token>!SCOPE!<json>` suffix.
//! The authenticated [`crate::auth::Caller`] exposes the result.
//!
//! Using it from a service (what compute and image do, and what volume and network need):
//!
//! ```ignore
//! // Reads: only the scoped sites' resources (None: not scoped, the federated default).
//! if let Some(sites) = c.scoped_read_sites(Service::Volume)? { /* filter by site id */ }
//! // Creates: the candidate sites, in order; `|` falls over on a connection failure.
//! if let Some(sites) = c.scoped_write_sites(Service::Volume)? {
//!     scope::first_answering(Service::Volume, &sites, |site| create_on(site)).await?;
//! }
//! // Shows and actions: 404 when the resource's site is outside the scope.
//! if !c.scope_covers(Service::Volume, route.site_id.as_deref())? { return Err(not_found) }
//! ```

pub mod carry;
pub mod compute;
pub mod expr;
pub mod identity;
pub mod image;
pub mod resolve;
#[cfg(test)]
mod tests;

pub use expr::{ScopeError, ServiceScope, SiteExpr};
pub use resolve::{first_answering, read_sites, unreachable, write_sites};

use crate::auth::Caller;
use crate::sites::SiteHandle;
use fedstack_api_types::{ApiError, Service};
use std::sync::Arc;

/// The key of a scope in the `scope` object of `POST /v3/auth/tokens`, beside `project` (as
/// Keystone's `OS-TRUST:trust`).
pub const AUTH_SCOPE_KEY: &str = "OS-FEDSTACK:scope";

impl Caller {
    /// The sites a read of `service` covers, or `None` when the service is not scoped.
    pub fn scoped_read_sites(
        &self,
        service: Service,
    ) -> Result<Option<Vec<Arc<SiteHandle>>>, ApiError> {
        self.scope_for(service)
            .map(|e| read_sites(&self.top, service, e))
            .transpose()
    }

    /// The sites a create of `service` may go to, in order, or `None` when not scoped.
    pub fn scoped_write_sites(
        &self,
        service: Service,
    ) -> Result<Option<Vec<Arc<SiteHandle>>>, ApiError> {
        self.scope_for(service)
            .map(|e| write_sites(&self.top, service, e))
            .transpose()
    }

    /// True when a resource on `site_id` is within the caller's scope of `service` (always,
    /// when the service is not scoped; never for a resource on no site). A resource named by
    /// its ID is covered on any site the expression names: `A | B` orders where lists and
    /// creates go, it does not hide B's resources while A is still thought up.
    pub fn scope_covers(&self, service: Service, site_id: Option<&str>) -> Result<bool, ApiError> {
        Ok(match self.scope_for(service) {
            None => true,
            Some(expr) => {
                let sites = resolve::named_sites(&self.top, service, expr)?;
                site_id.is_some_and(|id| sites.iter().any(|s| s.id() == id))
            }
        })
    }
}

/// The names of sites, for messages (`CloudOne, CloudTwo`).
pub fn names(sites: &[Arc<SiteHandle>]) -> String {
    sites
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}
