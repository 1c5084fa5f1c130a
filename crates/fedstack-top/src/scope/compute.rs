//! Servers under a scope: the availability zone asked must be in the compute scope, the
//! image must be in the image scope (it is then copied to the compute site when it boots,
//! as any image), and networks and volumes named by ID must be on the compute site.

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

/// A kind of site resource a server names by ID.
struct Reference {
    service: Service,
    /// The site client's service type and the path of one resource.
    site_service: &'static str,
    path: fn(&str) -> String,
    /// `Network`, `Volume`: for messages.
    noun: &'static str,
    why: &'static str,
}

const NETWORK: Reference = Reference {
    service: Service::Network,
    site_service: "network",
    path: |id| format!("/v2.0/networks/{id}"),
    noun: "Network",
    why: "a site's network does not reach another site's servers. Use a network of the \
          compute site or a top network that spans both sites",
};

const VOLUME: Reference = Reference {
    service: Service::Volume,
    site_service: "block-storage",
    path: |id| format!("/volumes/{id}"),
    noun: "Volume",
    why: "a volume is attached only to servers of its own site",
};

/// The resources a server names from scoped services must be on the site it is created
/// on: networks (`networks: [{"uuid": ...}]`) of the network scope, volumes
/// (`block_device_mapping_v2` with `source_type: volume`) of the volume scope. One of
/// another site is refused (409) naming both sites; one on no scoped site is a 400.
/// References of unscoped services are left to the site.
pub async fn check_references(
    c: &Caller,
    site: &SiteHandle,
    server: &Map<String, Value>,
) -> Result<(), ApiError> {
    let networks = server
        .get("networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("uuid").and_then(Value::as_str));
    check(c, site, &NETWORK, networks).await?;
    let volumes = server
        .get("block_device_mapping_v2")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d.get("source_type").and_then(Value::as_str) == Some("volume"))
        .filter_map(|d| d.get("uuid").and_then(Value::as_str));
    check(c, site, &VOLUME, volumes).await
}

async fn check<'a>(
    c: &Caller,
    site: &SiteHandle,
    kind: &Reference,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let Some(scoped) = c.scoped_read_sites(kind.service)? else {
        return Ok(());
    };
    let scope = super::expr::scope_key(kind.service);
    for id in ids {
        if kind.service == Service::Network && is_top_network(c, id).await? {
            // A top network spans every site: its pieces are made where a port needs them.
            continue;
        }
        match owner_site(c, &scoped, kind, id).await? {
            Some(owner) if owner.id() == site.id() => {}
            Some(owner) => {
                return Err(nova(
                    StatusCode::CONFLICT,
                    format!(
                        "{} {id} is on site {} ({scope} scope) but the server is created on \
                         site {} (compute scope): {}.",
                        kind.noun,
                        owner.name(),
                        site.name(),
                        kind.why
                    ),
                ))
            }
            None => {
                return Err(nova(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "{} {id} was not found on the sites of the {scope} scope ({}).",
                        kind.noun,
                        names(&scoped)
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// The site among `sites` that has resource `id` (asked as each site's admin).
/// True when `id` names a top network (Neutron at the top).
async fn is_top_network(c: &Caller, id: &str) -> Result<bool, ApiError> {
    c.top
        .store
        .net_resource(fedstack_store::networks::net_kind::NETWORK, id)
        .await
        .map(|n| n.is_some())
        .map_err(|e| nova(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn owner_site(
    c: &Caller,
    sites: &[Arc<SiteHandle>],
    kind: &Reference,
    id: &str,
) -> Result<Option<Arc<SiteHandle>>, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    if kind.service == Service::Volume {
        // A top volume lives where its route says; one outside the scope is not found there.
        let route = c
            .top
            .store
            .route(fedstack_store::routes::kind::VOLUME, id)
            .await
            .map_err(|e| nova(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if let Some(site_id) = route.and_then(|r| r.site_id) {
            return Ok(sites.iter().find(|s| s.id() == site_id).cloned());
        }
    }
    for site in sites {
        let resp = site
            .client
            .send(SiteRequest::new(
                Method::GET,
                kind.site_service,
                (kind.path)(id),
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
