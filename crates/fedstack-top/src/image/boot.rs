//! What the compute API asks of images when a server boots: the image, and its copy on the
//! chosen site (made now when it is not there yet). Errors are in Nova's envelope.

use super::access::store_error;
use super::copy::{self, CopyError};
use super::record::TopImage;
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::glance::ImageStatus;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::images::ImageRow;
use std::time::Duration;

/// How long a boot waits for its image to reach the site.
const COPY_WAIT: Duration = Duration::from_secs(600);

/// An active image `project_id` may boot from, else Nova's 400 for an unknown image.
pub async fn image_for_boot(
    top: &Top,
    project_id: &str,
    image_id: &str,
) -> Result<ImageRow, ApiError> {
    let not_found = || {
        ApiError::new(
            Service::Compute,
            StatusCode::BAD_REQUEST,
            "Can not find requested image",
        )
    };
    let row = top
        .store
        .image(image_id)
        .await
        .map_err(store_error(Service::Compute))?
        .ok_or_else(not_found)?;
    let image = TopImage::from_row(&row);
    if image.record.status == ImageStatus::Active && image.visible_to(project_id, false) {
        Ok(row)
    } else {
        Err(not_found())
    }
}

/// The sites a server booting `image` may be placed on (`None`: any, since the image can be
/// copied there): a copy comes from the top's data or from a site that is up holding an
/// active copy; without either, only the sites holding one (which are down).
pub async fn boot_sites(top: &Top, image: &ImageRow) -> Option<Vec<String>> {
    if image.local_data {
        return None;
    }
    let holders: Vec<String> = top
        .store
        .image_copies(&image.id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.state == copy::ACTIVE)
        .map(|c| c.site_id)
        .collect();
    let copyable = holders
        .iter()
        .any(|id| top.sites.get(id).is_some_and(|s| s.is_up()));
    (!copyable).then_some(holders)
}

/// The site's ID of `image` once the image is active on `site`: at once for an existing
/// copy, else after copying it now (or waiting for the copy in progress), bounded by
/// [`COPY_WAIT`].
pub async fn ensure_on_site(
    top: &Top,
    image: &ImageRow,
    site: &SiteHandle,
) -> Result<String, ApiError> {
    let existing = top
        .store
        .image_copy(&image.id, site.id())
        .await
        .map_err(store_error(Service::Compute))?;
    if let Some(c) = existing.filter(|c| c.state == copy::ACTIVE) {
        return Ok(c.site_image_id);
    }
    let compute_err = |status, msg: String| ApiError::new(Service::Compute, status, msg);
    match tokio::time::timeout(COPY_WAIT, copy::copy_now(top, &image.id, site)).await {
        Ok(Ok(site_image_id)) => Ok(site_image_id),
        Ok(Err(CopyError::Site(e))) => Err(site_error(Service::Compute, site, e)),
        Ok(Err(e @ CopyError::SourceDown { .. })) => Err(compute_err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Image {} could not be copied to site {}: {e}.",
                image.id,
                site.name()
            ),
        )),
        Ok(Err(e @ (CopyError::NoData(_) | CopyError::Gone(_)))) => Err(compute_err(
            StatusCode::BAD_REQUEST,
            format!(
                "Image {} is not available on site {}: {e}.",
                image.id,
                site.name()
            ),
        )),
        Ok(Err(e)) => Err(compute_err(
            StatusCode::BAD_GATEWAY,
            format!(
                "Image {} could not be copied to site {}: {e}.",
                image.id,
                site.name()
            ),
        )),
        Err(_) => Err(compute_err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Image {} was not copied to site {} within {} seconds.",
                image.id,
                site.name(),
                COPY_WAIT.as_secs()
            ),
        )),
    }
}
