//! The copy of a top image to a site, recorded in `image_copies`
//! (`pending` → `copying` → `active` | `failed`) and run as an `image-copy` job (see
//! `replicate`): the image is created on the site with the
//! top's ID and properties, in the site project of its owner (public images with the
//! service account's own scope), its data is streamed from the top's file or, when the top
//! holds none (a registered site image), from a site holding an active copy (see `source`),
//! and the bytes relayed and the site's sha512 must equal the image's. Every step can be
//! re-run: a retry finds what an earlier attempt left on the site and goes on from there.

use super::record::TopImage;
use super::source;
use crate::sites::SiteHandle;
use crate::tenancy::site_project;
use crate::Top;
use fedstack_api_types::glance::data::OCTET_STREAM;
use fedstack_api_types::glance::{Digests, ImageRecord, ImageStatus, Visibility};
use fedstack_api_types::Service;
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::images::ImageCopy;
use fedstack_store::StoreError;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Recorded, not started yet.
pub const PENDING: &str = "pending";
/// Running (or interrupted, when no one in this node holds its lock).
pub const COPYING: &str = "copying";
/// On the site and verified.
pub const ACTIVE: &str = "active";
/// The last attempt failed; retried with backoff.
pub const FAILED: &str = "failed";
/// Asked for at create (an image scoped to the site), started when the data is uploaded.
pub const AWAITING_DATA: &str = "awaiting-data";

/// How long a site may take to show an uploaded copy active.
const VERIFY_WAIT: Duration = Duration::from_secs(60);
const VERIFY_POLL: Duration = Duration::from_millis(250);

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error("neither the top nor any site holds the data of image {0}")]
    NoData(String),
    #[error("the sites holding image {image} ({sites}) cannot serve it now: {reason}")]
    SourceDown {
        image: String,
        sites: String,
        reason: String,
    },
    #[error("image {0} was deleted")]
    Gone(String),
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for CopyError {
    fn from(e: StoreError) -> Self {
        CopyError::Failed(e.to_string())
    }
}

/// The lock serialising the copy of an image to a site in this node.
pub fn lock(top: &Top, image_id: &str, site_id: &str) -> Arc<tokio::sync::Mutex<()>> {
    top.lock_for(&format!("image-copy/{image_id}/{site_id}"))
}

/// Runs the copy now, or waits for the one in progress in this node: the site image ID.
pub async fn copy_now(top: &Top, image_id: &str, site: &SiteHandle) -> Result<String, CopyError> {
    let lock = lock(top, image_id, site.id());
    let _guard = lock.lock().await;
    run_locked(top, image_id, site).await
}

/// Records a pending copy of the image to every enabled site that has none and submits the
/// copies to the sites that are up as jobs (the worker submits the others when they are).
pub async fn schedule_eager(top: &Arc<Top>, image_id: &str) -> Result<(), StoreError> {
    let sites = top.sites.all();
    for site in sites
        .into_iter()
        .filter(|s| s.record.enabled && !s.record.drained)
    {
        if top.store.image_copy(image_id, site.id()).await?.is_none() {
            top.store
                .set_image_copy(&ImageCopy {
                    image_id: image_id.into(),
                    site_id: site.id().into(),
                    site_image_id: image_id.into(),
                    state: PENDING.into(),
                    error: None,
                    attempts: 0,
                    updated_at: 0,
                })
                .await?;
        }
        start(top, image_id, site);
    }
    Ok(())
}

/// Submits the copy of an image to a site as a replication job now when the site is up (else
/// the worker submits it when it is).
fn start(top: &Arc<Top>, image_id: &str, site: Arc<SiteHandle>) {
    if !site.is_up() {
        return;
    }
    let (top, id) = (top.clone(), image_id.to_string());
    tokio::spawn(async move {
        if let Err(e) = super::replicate::submit(&top, &id, site.id()).await {
            tracing::warn!(image = %id, site = %site.name(), error = %e, "image copy not submitted; the worker retries it");
        }
    });
}

/// Records that a queued image goes to `sites` once its data is uploaded (an image created
/// under an image scope).
pub async fn await_data(
    top: &Top,
    image_id: &str,
    sites: &[Arc<SiteHandle>],
) -> Result<(), StoreError> {
    for site in sites {
        top.store
            .set_image_copy(&ImageCopy {
                image_id: image_id.into(),
                site_id: site.id().into(),
                site_image_id: image_id.into(),
                state: AWAITING_DATA.into(),
                error: None,
                attempts: 0,
                updated_at: 0,
            })
            .await?;
    }
    Ok(())
}

/// Starts the copies of an image that were waiting for its data (see [`await_data`]).
pub async fn release_awaiting(top: &Arc<Top>, image_id: &str) -> Result<(), StoreError> {
    for c in top.store.image_copies(image_id).await? {
        if c.state != AWAITING_DATA {
            continue;
        }
        top.store
            .set_image_copy(&ImageCopy {
                state: PENDING.into(),
                ..c.clone()
            })
            .await?;
        if let Some(site) = top.sites.get(&c.site_id) {
            start(top, image_id, site);
        }
    }
    Ok(())
}

/// Runs the copy; the caller holds [`lock`].
pub async fn run_locked(top: &Top, image_id: &str, site: &SiteHandle) -> Result<String, CopyError> {
    let image = current(top, image_id).await?;
    let previous = top.store.image_copy(image_id, site.id()).await?;
    if let Some(c) = previous.as_ref().filter(|c| c.state == ACTIVE) {
        return Ok(c.site_image_id.clone());
    }
    source::check(top, &image, site).await?;
    let attempts = previous.as_ref().map_or(0, |c| c.attempts) + 1;
    let mut site_image_id = previous.map_or_else(|| image_id.to_string(), |c| c.site_image_id);
    let state = |state: &str, error: Option<String>, sid: &str| ImageCopy {
        image_id: image_id.into(),
        site_id: site.id().into(),
        site_image_id: sid.into(),
        state: state.into(),
        error,
        attempts,
        updated_at: 0,
    };
    top.store
        .set_image_copy(&state(COPYING, None, &site_image_id))
        .await?;
    let result = transfer(top, &image, site, &mut site_image_id).await;
    if top.store.image(image_id).await?.is_none() {
        delete_on_site(site, &site_image_id).await.ok();
        top.store.delete_image_copy(image_id, site.id()).await?;
        return Err(CopyError::Gone(image_id.into()));
    }
    match result {
        Ok(()) => {
            top.store
                .set_image_copy(&state(ACTIVE, None, &site_image_id))
                .await?;
            tracing::info!(image = %image_id, site = %site.name(), site_image = %site_image_id, attempts, "image copied");
            Ok(site_image_id)
        }
        Err(e) => {
            top.store
                .set_image_copy(&state(FAILED, Some(e.to_string()), &site_image_id))
                .await?;
            Err(e)
        }
    }
}

async fn current(top: &Top, image_id: &str) -> Result<TopImage, CopyError> {
    top.store
        .image(image_id)
        .await?
        .map(|r| TopImage::from_row(&r))
        .ok_or_else(|| CopyError::Gone(image_id.into()))
}

/// Brings the site's copy to active with the image's data, from wherever an earlier attempt
/// left it; `site_image_id` becomes a fresh ID if the site refuses to reuse the old one.
async fn transfer(
    top: &Top,
    image: &TopImage,
    site: &SiteHandle,
    site_image_id: &mut String,
) -> Result<(), CopyError> {
    let want = image
        .record
        .stored
        .as_ref()
        .ok_or_else(|| CopyError::NoData(image.record.id.clone()))?;
    let owner = site_project(top, site, &image.record.attrs.owner, Service::Image)
        .await
        .map_err(|e| CopyError::Failed(e.message))?;
    let scope = match image.record.attrs.visibility {
        Visibility::Public => Scope::Admin,
        _ => Scope::Project(owner.clone()),
    };
    match site_image(site, site_image_id).await? {
        Some(s) if s.status == ImageStatus::Active && same_data(&s, &want.sha512) => return Ok(()),
        Some(s) if s.status == ImageStatus::Queued => {}
        Some(_) => {
            delete_on_site(site, site_image_id).await?;
            *site_image_id = uuid::Uuid::new_v4().to_string();
            create(site, image, &owner, &scope, site_image_id).await?;
        }
        None => create(site, image, &owner, &scope, site_image_id).await?,
    }
    upload(top, image, site, &scope, site_image_id, want).await?;
    verify(site, site_image_id, &want.sha512).await
}

fn same_data(s: &ImageRecord, sha512: &str) -> bool {
    s.stored.as_ref().is_some_and(|d| d.sha512 == sha512)
}

/// The site's image `id`, if it has one.
pub async fn site_image(site: &SiteHandle, id: &str) -> Result<Option<ImageRecord>, SiteError> {
    let r = site
        .client
        .send(SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images/{id}"),
            Scope::Admin,
        ))
        .await?;
    if r.status.as_u16() == 404 {
        return Ok(None);
    }
    let body = r.ok()?.json();
    ImageRecord::from_json(&body)
        .map(Some)
        .ok_or(SiteError::Http {
            status: 200,
            body: "the site answered something that is not an image".into(),
        })
}

/// Deletes the site's image `id` (gone already is fine).
pub async fn delete_on_site(site: &SiteHandle, id: &str) -> Result<(), SiteError> {
    let r = site
        .client
        .send(SiteRequest::new(
            Method::DELETE,
            "image",
            format!("/v2/images/{id}"),
            Scope::Admin,
        ))
        .await?;
    if r.status.as_u16() == 404 {
        return Ok(());
    }
    r.ok().map(drop)
}

/// The create body of the site's copy: the top's attributes and properties, the site
/// project as owner. Copies are not protected (the top guards deletion).
fn create_body(image: &TopImage, owner: &str, id: &str) -> Value {
    let a = &image.record.attrs;
    let mut body: Map<String, Value> = a.properties.clone();
    if let Value::Object(core) = json!({
        "id": id,
        "name": a.name,
        "disk_format": a.disk_format,
        "container_format": a.container_format,
        "visibility": a.visibility.as_str(),
        "min_disk": a.min_disk,
        "min_ram": a.min_ram,
        "os_hidden": a.os_hidden,
        "tags": a.tags,
        "owner": owner,
    }) {
        body.extend(core);
    }
    Value::Object(body)
}

/// Creates the copy on the site, under a fresh ID if the site will not reuse this one (a
/// real Glance keeps the IDs of deleted images).
async fn create(
    site: &SiteHandle,
    image: &TopImage,
    owner: &str,
    scope: &Scope,
    id: &mut String,
) -> Result<(), SiteError> {
    let send = |id: &str| {
        site.client.send(
            SiteRequest::new(Method::POST, "image", "/v2/images", scope.clone())
                .json(&create_body(image, owner, id)),
        )
    };
    let r = send(id).await?;
    if r.status.as_u16() != 409 {
        return r.ok().map(drop);
    }
    *id = uuid::Uuid::new_v4().to_string();
    send(id).await?.ok().map(drop)
}

/// Streams the image's data to the site's queued copy; bytes relayed from another site must
/// be the image's (else the copy is deleted).
async fn upload(
    top: &Top,
    image: &TopImage,
    site: &SiteHandle,
    scope: &Scope,
    id: &str,
    want: &Digests,
) -> Result<(), CopyError> {
    let size = want.size;
    let src = source::open(top, image, site).await?;
    let req = SiteRequest::new(
        Method::PUT,
        "image",
        format!("/v2/images/{id}/file"),
        scope.clone(),
    )
    .header("content-type", OCTET_STREAM)
    .header("content-length", &size.to_string());
    let limit = upload_limit(size);
    let r = tokio::time::timeout(limit, site.client.send_body(req, src.body))
        .await
        .map_err(|_| SiteError::Timeout(limit))??;
    r.ok()?;
    let Some((from, tally)) = src.tally else {
        return Ok(());
    };
    if tally.moved() == size && tally.sha512().as_deref() == Some(want.sha512.as_str()) {
        return Ok(());
    }
    delete_on_site(site, id).await.ok();
    Err(CopyError::Failed(format!(
        "the {} bytes read from site {} are not the image's data ({size} bytes, sha512 {}); the copy on site {} was deleted",
        tally.moved(),
        from.name(),
        want.sha512,
        site.name()
    )))
}

/// Time allowed to upload `size` bytes: a minute, plus a second per 4 MiB.
fn upload_limit(size: u64) -> Duration {
    Duration::from_secs(60 + size / (4 << 20))
}

/// Waits for the site's copy to be active and checks its sha512; a copy with other data is
/// deleted.
async fn verify(site: &SiteHandle, id: &str, sha512: &str) -> Result<(), CopyError> {
    let deadline = tokio::time::Instant::now() + VERIFY_WAIT;
    loop {
        let s = site_image(site, id)
            .await?
            .ok_or_else(|| CopyError::Failed(format!("the copy {id} vanished from the site")))?;
        match s.status {
            ImageStatus::Active if same_data(&s, sha512) => return Ok(()),
            ImageStatus::Active => {
                delete_on_site(site, id).await.ok();
                return Err(CopyError::Failed(format!(
                    "the copy on site {} has another sha512 than the image's; it was deleted",
                    site.name()
                )));
            }
            ImageStatus::Saving | ImageStatus::Importing | ImageStatus::Uploading
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(VERIFY_POLL).await;
            }
            other => {
                return Err(CopyError::Failed(format!(
                    "the copy on site {} is {other} after its upload",
                    site.name()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_limits_grow_with_size() {
        assert_eq!(upload_limit(0), Duration::from_secs(60));
        assert_eq!(upload_limit(1 << 30), Duration::from_secs(60 + 256));
    }
}
