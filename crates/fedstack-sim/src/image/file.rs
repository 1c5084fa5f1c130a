//! Image data: `PUT /v2/images/{id}/file` (and `/stage`) streams the body into memory
//! (hashing as it arrives, without holding the site lock) and `GET /file` serves it back.

use super::common::{media_type, no_content, no_image, unsupported_media_type, Caller, Res};
use super::model::{Digests, Hasher, ImageStatus, Stored};
use axum::body::Body;
use axum::extract::Path;
use axum::http::HeaderMap;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use fedstack_api_types::glance::data::{
    byte_range, check_download, check_queued, data_response, declared_size, gone_after_upload,
    read_error, require_formats, too_large, OCTET_STREAM,
};
use fedstack_api_types::glance::format::checked_virtual_size;
use fedstack_api_types::ApiError;
use http_body_util::BodyExt;

/// The largest image accepted (Glance's `image_size_cap` is larger; memory is the limit here).
pub const SIZE_CAP: u64 = 16 << 30;

/// Where streamed data goes: stored (`/file`: queued → saving → active) or staged for a
/// `glance-direct` import (`/stage`: queued → uploading).
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Store,
    Stage,
}

impl Target {
    /// The status the image holds while the data streams in.
    fn status(self) -> ImageStatus {
        match self {
            Target::Store => ImageStatus::Saving,
            Target::Stage => ImageStatus::Uploading,
        }
    }
    /// The policy rule guarding it.
    fn action(self) -> &'static str {
        match self {
            Target::Store => "upload_image",
            Target::Stage => "modify_image",
        }
    }
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(caller: Caller, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Res {
    transfer(&caller, &id, &headers, body, Target::Store).await
}

/// `PUT /v2/images/{id}/stage`: data for a later `glance-direct` import.
pub async fn stage(caller: Caller, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Res {
    transfer(&caller, &id, &headers, body, Target::Stage).await
}

async fn transfer(
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    body: Body,
    target: Target,
) -> Res {
    if media_type(headers) != OCTET_STREAM {
        return Ok(unsupported_media_type(headers));
    }
    let expected = declared_size(headers)?;
    begin(caller, id, target)?;
    match receive(body, expected).await {
        Ok((data, digests)) if target == Target::Store => {
            finish_upload(caller, id, headers, data, digests)
        }
        Ok((data, digests)) => finish_stage(caller, id, data, digests),
        Err(e) => {
            restore_queued(caller, id, target);
            Err(e)
        }
    }
}

/// Checks the caller may send data and moves the image out of `queued`.
fn begin(caller: &Caller, id: &str, target: Target) -> Result<(), ApiError> {
    let mut g = caller.site.data.lock();
    let image = caller.image_mut(&mut g.image, id, target.action())?;
    image.settle(Utc::now());
    check_queued(image.status, target.status())?;
    if target == Target::Store {
        require_formats(
            image.disk_format.as_deref(),
            image.container_format.as_deref(),
        )?;
    }
    image.status = target.status();
    image.ready_at = None;
    image.updated_at = Utc::now();
    Ok(())
}

/// Reads the body chunk by chunk, hashing as it goes, up to [`SIZE_CAP`].
async fn receive(mut body: Body, expected: Option<u64>) -> Result<(Bytes, Digests), ApiError> {
    let reserve = expected.filter(|n| *n <= SIZE_CAP).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(usize::try_from(reserve).unwrap_or(0));
    let mut hasher = Hasher::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| read_error())?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if buf.len() as u64 + chunk.len() as u64 > SIZE_CAP {
            return Err(too_large());
        }
        hasher.update(&chunk);
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), hasher.finish()))
}

/// Stores the data and makes the image active, unless it vanished meanwhile (410 as Glance)
/// or its bytes are not what its `disk_format` says (415, queued again).
fn finish_upload(
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    data: Bytes,
    digests: Digests,
) -> Res {
    let mut g = caller.site.data.lock();
    let Some(image) = g
        .image
        .images
        .get_mut(id)
        .filter(|i| i.status == ImageStatus::Saving)
    else {
        return Err(gone_after_upload(id));
    };
    let inspected = checked_virtual_size(
        image.disk_format.as_deref(),
        image.container_format.as_deref(),
        &data,
        data.len() as u64,
    );
    let Ok(virtual_size) = inspected else {
        image.status = ImageStatus::Queued;
        return Ok(unsupported_media_type(headers));
    };
    let now = Utc::now();
    let stored = Stored {
        digests,
        virtual_size,
    };
    image.store(data, stored, now, now);
    Ok(no_content())
}

/// Keeps staged data for the import, showing its size.
fn finish_stage(caller: &Caller, id: &str, data: Bytes, digests: Digests) -> Res {
    let mut g = caller.site.data.lock();
    match g.image.images.get_mut(id) {
        Some(i) if i.status == ImageStatus::Uploading => {
            i.data = Some(data);
            i.digests = Some(digests);
            i.updated_at = Utc::now();
            Ok(no_content())
        }
        _ => Err(no_image(id)),
    }
}

/// A failed transfer leaves the image queued, ready for another try.
fn restore_queued(caller: &Caller, id: &str, target: Target) {
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(id) {
        if i.status == target.status() && i.ready_at.is_none() {
            i.status = ImageStatus::Queued;
            i.data = None;
            i.digests = None;
        }
    }
}

/// `GET /v2/images/{id}/file`: the data with `Content-MD5`, a single `Range`, or 204 when
/// the image holds none.
pub async fn download(caller: Caller, Path(id): Path<String>, headers: HeaderMap) -> Res {
    let (data, md5) = {
        let mut g = caller.site.data.lock();
        if let Some(i) = g.image.images.get_mut(&id) {
            i.settle(Utc::now());
        }
        let image = caller.image(&g.image, &id)?;
        check_download(image.status, &caller.actor())?;
        match (image.stored(), &image.data) {
            (Some(d), Some(data)) => (data.clone(), d.md5.clone()),
            _ => return Ok(no_content()),
        }
    };
    let total = data.len() as u64;
    let range = byte_range(&headers, total)?;
    let body = match range {
        Some((a, b)) => data.slice(a as usize..=b as usize),
        None => data,
    };
    Ok(data_response(Body::from(body), total, &md5, range))
}
