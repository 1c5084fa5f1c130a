//! Servers under a scope: the availability zone asked must be in the compute scope, the
//! image must be in the image scope (it is then copied to the compute site when it boots,
//! as any image), and a network named by ID must be on the compute site.

use super::names;
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::images::ImageRow;
use reqwest::Method;
use serde_json::{Map, Value};
use std::sync::Arc;

fn nova(status: StatusCode, msg: String) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// A zone asked with `--availability-zone` must be a site of the compute scope.
pub fn check_zone(c: &Caller, site: &SiteHandle) -> Result<(), ApiError> {
    let Some(expr) = c.scope_for(Service::Compute) else {
        return Ok(());
    };
    if expr.names().iter().any(|n| n == site.name()) {
        return Ok(());
    }
    Err(nova(
        StatusCode::BAD_REQUEST,
        format!(
            "The requested availability zone {} is outside the compute scope '{expr}'.",
            site.record.az
        ),
    ))
}

/// The image of a boot must be on a site of the image scope.
pub async fn check_boot_image(c: &Caller, image: &ImageRow) -> Result<(), ApiError> {
    let Some(sites) = c.scoped_read_sites(Service::Image)? else {
        return Ok(());
    };
    if super::image::on_sites(&c.top, Service::Compute, &image.id, &sites).await? {
        return Ok(());
    }
    Err(nova(
        StatusCode::BAD_REQUEST,
        format!(
            "Image {} is not on the sites of the image scope ({}).",
            image.id,
            names(&sites)
        ),
    ))
}

/// The networks a server names (`networks: [{"uuid": ...}]`) must be networks of the
/// network scope's sites, on the site the server is created on: a network of another site
/// is refused (409) naming both sites, one on no scoped site is a 400. Unscoped networks
/// are left to the site.
pub async fn check_networks(
    c: &Caller,
    site: &SiteHandle,
    server: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(net_sites) = c.scoped_read_sites(Service::Network)? else {
        return Ok(());
    };
    let ids = server
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("uuid").and_then(Value::as_str));
    for id in ids {
        match network_site(&net_sites, id).await? {
            Some(owner) if owner.id() == site.id() => {}
            Some(owner) => {
                return Err(nova(
                    StatusCode::CONFLICT,
                    format!(
                        "Network {id} is a network of site {} (network scope) but the server is \
                         created on site {} (compute scope): a site's network does not reach \
                         another site's servers. Use a network of {} or a top network that \
                         spans both sites.",
                        owner.name(),
                        site.name(),
                        site.name()
                    ),
                ))
            }
            None => {
                return Err(nova(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Network {id} was not found on the sites of the network scope ({}).",
                        names(&net_sites)
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The site among `sites` that has network `id` (asked as each site's admin).
async fn network_site(
    sites: &[Arc<SiteHandle>],
    id: &str,
) -> Result<Option<Arc<SiteHandle>>, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    for site in sites {
        let resp = site
            .client
            .send(SiteRequest::new(
                Method::GET,
                "network",
                format!("/v2.0/networks/{id}"),
                Scope::Admin,
            ))
            .await
            .map_err(|e| site_error(Service::Compute, site, e))?;
        if resp.is_success() {
            return Ok(Some(site.clone()));
        }
    }
    Ok(None)
}
