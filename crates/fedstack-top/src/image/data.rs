//! Image data: `PUT /v2/images/{id}/file` streams the body into the top's file of the image
//! (queued → saving → active), `GET` streams it back, from the top's file or, for an image the
//! top holds no data of, from a site holding an active copy.

use super::access::{glance_store_error, image_lock, internal, Glance};
use super::record::{Policy, TopImage};
use super::{copy, storage};
use crate::Top;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fedstack_api_types::glance::data::{
    byte_range, check_download, check_queued, data_response, declared_size, gone_after_upload,
    require_formats, OCTET_STREAM,
};
use fedstack_api_types::glance::format::checked_virtual_size;
use fedstack_api_types::glance::respond::{err, media_type, no_content, unsupported_media_type};
use fedstack_api_types::glance::ImageStatus;
use fedstack_api_types::ApiError;
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::images::ImageCopy;
use reqwest::Method;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The largest image accepted (Glance's default `image_size_cap`, 1 TiB).
const SIZE_CAP: u64 = 1 << 40;

/// `PUT /v2/images/{id}/file`.
pub async fn upload(g: Glance, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Res {
    if media_type(&headers) != OCTET_STREAM {
        return Ok(unsupported_media_type(&headers));
    }
    declared_size(&headers)?;
    begin(&g, &id).await?;
    let saving = Saving {
        top: g.top().clone(),
        id: id.clone(),
        armed: true,
    };
    match storage::receive(g.top(), &id, body, SIZE_CAP).await {
        Ok(received) => finish(g.top(), saving, received, &headers).await,
        Err(e) => {
            saving.abort().await;
            Err(e)
        }
    }
}

/// Checks the caller may upload and moves the image queued → saving.
async fn begin(g: &Glance, id: &str) -> Result<(), ApiError> {
    let lock = g.lock(id);
    let _guard = lock.lock().await;
    let mut image = g.image_to_change(id, "upload_image").await?;
    let a = &image.record.attrs;
    check_queued(image.record.status, ImageStatus::Saving)?;
    require_formats(a.disk_format.as_deref(), a.container_format.as_deref())?;
    image.record.status = ImageStatus::Saving;
    image.record.updated_at = Utc::now();
    g.top()
        .store
        .upsert_image(&image.to_row())
        .await
        .map_err(glance_store_error)
}

/// Makes the image active with its data, unless it vanished meanwhile (410 as Glance) or its
/// bytes are not what its `disk_format` says (415, queued again), and starts its eager
/// copies.
async fn finish(
    top: &Arc<Top>,
    mut saving: Saving,
    received: storage::Received,
    headers: &HeaderMap,
) -> Res {
    let id = saving.id.clone();
    let lock = image_lock(top, &id);
    let guard = lock.lock().await;
    let row = top.store.image(&id).await.map_err(glance_store_error)?;
    let Some(mut image) = row
        .map(|r| TopImage::from_row(&r))
        .filter(|i| i.record.status == ImageStatus::Saving)
    else {
        saving.armed = false;
        storage::discard_partial(top, &id).await;
        return Err(gone_after_upload(&id));
    };
    let d = received.digests;
    let a = &image.record.attrs;
    let Ok(virtual_size) = checked_virtual_size(
        a.disk_format.as_deref(),
        a.container_format.as_deref(),
        &received.head,
        d.size,
    ) else {
        drop(guard);
        saving.abort().await;
        return Ok(unsupported_media_type(headers));
    };
    storage::commit(top, &id)
        .await
        .map_err(|e| internal(format!("The top could not store the image data: {e}")))?;
    image.record.virtual_size = virtual_size;
    image.record.size = Some(d.size);
    image.record.stored = Some(d);
    image.record.status = ImageStatus::Active;
    image.record.updated_at = Utc::now();
    image.local_data = true;
    top.store
        .upsert_image(&image.to_row())
        .await
        .map_err(glance_store_error)?;
    saving.armed = false;
    drop(guard);
    tracing::info!(image = %id, size = image.record.stored.as_ref().map_or(0, |d| d.size), "image data stored");
    if image.policy == Policy::Eager {
        copy::schedule_eager(top, &id)
            .await
            .map_err(glance_store_error)?;
    }
    copy::release_awaiting(top, &id)
        .await
        .map_err(glance_store_error)?;
    Ok(no_content())
}

/// An upload in progress: unless finished, the image goes back to queued and the partial
/// data is removed (also when the client goes away mid-upload).
struct Saving {
    top: Arc<Top>,
    id: String,
    armed: bool,
}

impl Saving {
    async fn abort(mut self) {
        self.armed = false;
        restore_queued(&self.top, &self.id).await;
    }
}

impl Drop for Saving {
    fn drop(&mut self) {
        if self.armed {
            let (top, id) = (self.top.clone(), self.id.clone());
            tokio::spawn(async move { restore_queued(&top, &id).await });
        }
    }
}

/// A failed upload leaves the image queued, ready for another try.
async fn restore_queued(top: &Top, id: &str) {
    let lock = image_lock(top, id);
    let _guard = lock.lock().await;
    storage::discard_partial(top, id).await;
    let image = match top.store.image(id).await {
        Ok(Some(row)) => TopImage::from_row(&row),
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(image = %id, error = %e, "failed upload not reset");
            return;
        }
    };
    if image.record.status == ImageStatus::Saving {
        let mut image = image;
        image.record.status = ImageStatus::Queued;
        if let Err(e) = top.store.upsert_image(&image.to_row()).await {
            tracing::warn!(image = %id, error = %e, "failed upload not reset");
        }
    }
}

/// `GET /v2/images/{id}/file`: the data with `Content-MD5`, a single `Range`, or 204 when
/// the image holds none.
pub async fn download(g: Glance, Path(id): Path<String>, headers: HeaderMap) -> Res {
    let image = g.image(&id).await?;
    check_download(image.record.status, &g.actor())?;
    let Some(d) = image.record.stored.as_ref() else {
        return Ok(no_content());
    };
    if !image.local_data {
        return from_site(g.top(), &image, &headers).await;
    }
    let range = byte_range(&headers, d.size)?;
    let body = storage::read(g.top(), &id, range)
        .await
        .map_err(|e| internal(format!("The top could not read the image data: {e}")))?;
    Ok(data_response(body, d.size, &d.md5, range))
}

/// Relays the data from the first site holding an active copy that answers.
async fn from_site(top: &Top, image: &TopImage, headers: &HeaderMap) -> Res {
    let id = &image.record.id;
    let copies = top
        .store
        .image_copies(id)
        .await
        .map_err(glance_store_error)?;
    for c in copies.iter().filter(|c| c.state == copy::ACTIVE) {
        let Some(site) = top.sites.get(&c.site_id).filter(|s| s.is_up()) else {
            continue;
        };
        match site.client.send_streaming(data_request(c, headers)).await {
            Ok(r) if r.status().is_success() => return Ok(relay(r)),
            Ok(r) if r.status() == StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(err(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "Requested range not satisfiable",
                ));
            }
            Ok(r) => {
                tracing::warn!(image = %id, site = %site.name(), status = %r.status(), "site did not serve image data")
            }
            Err(e) => {
                tracing::warn!(image = %id, site = %site.name(), error = %e, "site did not serve image data")
            }
        }
    }
    Err(err(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("The data of image {id} is on sites that are not available now."),
    ))
}

/// The download of a site copy's data, passing on the client's `Range` if any.
pub(super) fn data_request(c: &ImageCopy, headers: &HeaderMap) -> SiteRequest {
    let req = SiteRequest::new(
        Method::GET,
        "image",
        format!("/v2/images/{}/file", c.site_image_id),
        Scope::Admin,
    )
    .header("accept", OCTET_STREAM);
    match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => req.header("range", r),
        None => req,
    }
}

/// A site's data answer, streamed through with its data headers.
fn relay(r: reqwest::Response) -> Response {
    let status = r.status();
    let kept: Vec<(header::HeaderName, HeaderValue)> = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::HeaderName::from_static("content-md5"),
    ]
    .into_iter()
    .filter_map(|name| r.headers().get(&name).cloned().map(|v| (name, v)))
    .collect();
    let mut resp = (status, Body::from_stream(r.bytes_stream())).into_response();
    resp.headers_mut().extend(kept);
    resp
}
