//! Images under a scope: an image is on a site when it has a copy there (a registered site
//! image, a replica, or one waiting for its data); scoped lists and shows only see the images
//! on the scoped sites, and an image created under a scope is copied to the scope's site(s)
//! when its data is uploaded.

use crate::auth::Caller;
use crate::image::{await_data, COPY_FAILED};
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::StoreError;
use std::collections::HashSet;
use std::sync::Arc;

fn store_err(service: Service) -> impl Fn(StoreError) -> ApiError {
    move |e| ApiError::new(service, StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// True when image `image_id` is on one of `sites`.
pub async fn on_sites(
    top: &Top,
    service: Service,
    image_id: &str,
    sites: &[Arc<SiteHandle>],
) -> Result<bool, ApiError> {
    let copies = top
        .store
        .image_copies(image_id)
        .await
        .map_err(store_err(service))?;
    Ok(copies
        .iter()
        .any(|c| c.state != COPY_FAILED && sites.iter().any(|s| s.id() == c.site_id)))
}

/// The images a scoped caller may see (`None`: image is not scoped, every image).
pub async fn visible_ids(c: &Caller) -> Result<Option<HashSet<String>>, ApiError> {
    let Some(sites) = c.scoped_read_sites(Service::Image)? else {
        return Ok(None);
    };
    let mut ids = HashSet::new();
    for site in &sites {
        let copies = c
            .top
            .store
            .image_copies_of_site(site.id())
            .await
            .map_err(store_err(Service::Image))?;
        ids.extend(
            copies
                .into_iter()
                .filter(|c| c.state != COPY_FAILED)
                .map(|c| c.image_id),
        );
    }
    Ok(Some(ids))
}

/// True when the caller's image scope covers image `id`.
pub async fn visible(c: &Caller, id: &str) -> Result<bool, ApiError> {
    match c.scoped_read_sites(Service::Image)? {
        None => Ok(true),
        Some(sites) => on_sites(&c.top, Service::Image, id, &sites).await,
    }
}

/// The sites an image created under an image scope goes to once its data is uploaded: the
/// scope's site (`A`, the first up of `A | B`) or sites (`A & B`); none when not scoped.
pub fn create_targets(c: &Caller) -> Result<Vec<Arc<SiteHandle>>, ApiError> {
    let Some(mut sites) = c.scoped_write_sites(Service::Image)? else {
        return Ok(vec![]);
    };
    if !matches!(c.scope_for(Service::Image), Some(super::SiteExpr::All(_))) {
        sites.truncate(1);
    }
    Ok(sites)
}

/// Records the copies of a new image to its [`create_targets`].
pub async fn on_create(
    top: &Top,
    image_id: &str,
    targets: &[Arc<SiteHandle>],
) -> Result<(), ApiError> {
    await_data(top, image_id, targets)
        .await
        .map_err(store_err(Service::Image))
}
