//! Images that live on sites, shown at the top without copying (policy `register`): the
//! public images of every site that is up, and images made on a site through the top (server
//! snapshots). Their top ID is the site's ID; their record follows the site's; they leave the
//! top when no site has them any more.

use super::access::{image_lock, store_error};
use super::copy::{self, ACTIVE, PENDING};
use super::record::{Policy, TopImage, POLICY_PROPERTY};
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::glance::{ImageRecord, Visibility};
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::images::ImageCopy;
use fedstack_store::StoreError;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The top project owning site images no top project owns.
const ADMIN_PROJECT: &str = "admin";
/// Images asked for per page when listing a site.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs forever: each round syncs every enabled site that is up.
pub async fn run(top: Arc<Top>) {
    let every = Duration::from_millis(top.config.sync_interval_ms.max(200));
    loop {
        for site in top.sites.all() {
            if site.record.enabled && site.is_up() {
                if let Err(e) = sync_site(&top, &site).await {
                    tracing::debug!(site = %site.name(), error = %e, "site images not synced");
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Records `site_image` (a Glance image document of `site`, e.g. a snapshot made through the
/// top) as a top image with policy `register` and an active copy on `site`: the top image ID
/// (the site's ID).
pub async fn register_site_image(
    top: &Top,
    site: &SiteHandle,
    site_image: &Value,
) -> Result<String, ApiError> {
    let record = ImageRecord::from_json(site_image).ok_or_else(|| {
        ApiError::new(
            Service::Compute,
            StatusCode::BAD_GATEWAY,
            format!(
                "Site {} answered an image the top cannot read.",
                site.name()
            ),
        )
    })?;
    adopt(top, site, &record)
        .await
        .map_err(store_error(Service::Compute))?;
    Ok(record.id)
}

/// Lists every image of the site (as its admin, all visibilities, page by page).
async fn site_images(site: &SiteHandle) -> Result<Vec<ImageRecord>, SiteError> {
    let mut images = Vec::new();
    let mut path = format!("/v2/images?limit={PAGE}&visibility=all&member_status=all");
    loop {
        let page = site
            .client
            .json(SiteRequest::new(Method::GET, "image", path, Scope::Admin))
            .await?;
        let batch = page["images"].as_array().cloned().unwrap_or_default();
        images.extend(batch.iter().filter_map(ImageRecord::from_json));
        match page["next"].as_str() {
            Some(next) if !batch.is_empty() => path = next.to_string(),
            _ => return Ok(images),
        }
    }
}

/// One round for one site: new public images appear, registered ones follow the site, and
/// copies the site no longer has are forgotten.
async fn sync_site(top: &Top, site: &SiteHandle) -> Result<(), SyncError> {
    let listed = site_images(site).await?;
    for record in &listed {
        match top.store.top_image_of(site.id(), &record.id).await? {
            Some(top_id) if top_id == record.id => refresh(top, site, record).await?,
            Some(_) => {}
            None if record.attrs.visibility == Visibility::Public => {
                adopt(top, site, record).await?
            }
            None => {}
        }
    }
    let ids: HashSet<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    for c in top.store.image_copies_of_site(site.id()).await? {
        if c.state == ACTIVE
            && !ids.contains(c.site_image_id.as_str())
            && copy::site_image(site, &c.site_image_id).await?.is_none()
        {
            forget(top, site, &c).await?;
        }
    }
    Ok(())
}

/// The top image of a site image: the site's record, its owner mapped to the top project
/// whose site project owns it (else the top's admin project).
async fn from_site(
    top: &Top,
    site: &SiteHandle,
    record: &ImageRecord,
) -> Result<TopImage, StoreError> {
    let mut record = record.clone();
    let site_owner = &record.attrs.owner;
    let owner = match top.store.top_project_of(site.id(), site_owner).await? {
        Some(p) => Some(p),
        None => top
            .store
            .project_by_name(ADMIN_PROJECT)
            .await?
            .map(|p| p.id),
    };
    if let Some(owner) = owner {
        record.attrs.owner = owner;
    }
    record
        .attrs
        .properties
        .insert(POLICY_PROPERTY.into(), Policy::Register.as_str().into());
    Ok(TopImage {
        record,
        policy: Policy::Register,
        local_data: false,
    })
}

/// Records a site image at the top (or adds this site to a registered one) with an active
/// copy on the site. A top image of another policy with this ID is one of the top's own
/// copies and is left alone.
async fn adopt(top: &Top, site: &SiteHandle, record: &ImageRecord) -> Result<(), StoreError> {
    let lock = image_lock(top, &record.id);
    let _guard = lock.lock().await;
    let top_id = match top.store.image(&record.id).await? {
        Some(row) if row.policy != Policy::Register.as_str() => return Ok(()),
        Some(_) => record.id.clone(),
        None => match twin(top, record).await? {
            Some(twin) => {
                tracing::info!(image = %twin, site = %site.name(), site_image = %record.id, "site image is a copy of a registered image");
                twin
            }
            None => {
                top.store
                    .upsert_image(&from_site(top, site, record).await?.to_row())
                    .await?;
                tracing::info!(image = %record.id, site = %site.name(), "site image registered");
                record.id.clone()
            }
        },
    };
    top.store
        .set_image_copy(&ImageCopy {
            image_id: top_id,
            site_id: site.id().into(),
            site_image_id: record.id.clone(),
            state: ACTIVE.into(),
            error: None,
            attempts: 0,
            updated_at: 0,
        })
        .await
}

/// The registered image holding the same data under the same name (public images that every
/// site carries, such as `cirros`, are one image at the top).
async fn twin(top: &Top, record: &ImageRecord) -> Result<Option<String>, StoreError> {
    match (&record.attrs.name, &record.stored) {
        (Some(name), Some(d)) => top.store.registered_twin(name, &d.sha512).await,
        _ => Ok(None),
    }
}

/// Brings a registered image's record up to date with the site's, unless the site's image is
/// a copy still on its way there.
async fn refresh(top: &Top, site: &SiteHandle, record: &ImageRecord) -> Result<(), StoreError> {
    let lock = image_lock(top, &record.id);
    let _guard = lock.lock().await;
    let Some(row) = top.store.image(&record.id).await? else {
        return Ok(());
    };
    if row.policy != Policy::Register.as_str() {
        return Ok(());
    }
    let copy = top.store.image_copy(&record.id, site.id()).await?;
    if copy.is_none_or(|c| c.state != ACTIVE) {
        return Ok(());
    }
    let mut fresh = from_site(top, site, record).await?;
    fresh.local_data = row.local_data;
    let fresh = fresh.to_row();
    if fresh != row {
        top.store.upsert_image(&fresh).await?;
    }
    Ok(())
}

/// The site lost a copy: a registered image forgets the site (and leaves the top with its
/// last site), an eager one is copied again, an on-demand one at its next boot there.
async fn forget(top: &Top, site: &SiteHandle, c: &ImageCopy) -> Result<(), StoreError> {
    let lock = image_lock(top, &c.image_id);
    let _guard = lock.lock().await;
    let Some(image) = top.store.image(&c.image_id).await? else {
        return Ok(());
    };
    tracing::info!(image = %c.image_id, site = %site.name(), "image copy no longer on site");
    if image.policy == Policy::Eager.as_str() {
        let pending = ImageCopy {
            state: PENDING.into(),
            attempts: 0,
            error: None,
            ..c.clone()
        };
        return top.store.set_image_copy(&pending).await;
    }
    top.store.delete_image_copy(&c.image_id, site.id()).await?;
    let orphan = image.policy == Policy::Register.as_str()
        && !image.local_data
        && top.store.image_copies(&c.image_id).await?.is_empty();
    if orphan {
        top.store.delete_image(&c.image_id).await?;
        tracing::info!(image = %c.image_id, "registered image left the top: no site has it");
    }
    Ok(())
}
