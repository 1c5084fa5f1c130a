//! Image data: `PUT /v2/images/{id}/file` (and `/stage`) streams the body into memory
//! (hashing as it arrives, without holding the site lock) and `GET /file` serves it back.

use super::common::{
    bad_request, conflict, err, forbidden, media_type, no_content, no_image, not_authorized,
    unsupported_media_type, Caller, Res,
};
use super::format;
use super::model::{Digests, Hasher, Image, ImageStatus, Stored};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chrono::Utc;
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
    if media_type(headers) != "application/octet-stream" {
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

/// `x-openstack-image-size`, else `Content-Length`, as Glance reads the expected size.
fn declared_size(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let header = headers
        .get("x-openstack-image-size")
        .or_else(|| headers.get(header::CONTENT_LENGTH));
    match header {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| bad_request("Invalid or missing image size in request headers.")),
    }
}

/// Checks the caller may send data and moves the image out of `queued`.
fn begin(caller: &Caller, id: &str, target: Target) -> Result<(), ApiError> {
    let mut g = caller.site.data.lock();
    let image = caller.image_mut(&mut g.image, id, target.action())?;
    image.settle(Utc::now());
    if image.status != ImageStatus::Queued {
        return Err(conflict(format!(
            "Image status transition from {} to {} is not allowed",
            image.status,
            target.status()
        )));
    }
    if target == Target::Store {
        require_formats(image)?;
    }
    image.status = target.status();
    image.ready_at = None;
    image.updated_at = Utc::now();
    Ok(())
}

/// Data can only be saved once both formats are set.
fn require_formats(image: &Image) -> Result<(), ApiError> {
    let missing: Vec<&str> = [
        ("disk_format", image.disk_format.is_none()),
        ("container_format", image.container_format.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, absent)| absent.then_some(k))
    .collect();
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(bad_request(format!(
                "Property {one} must be set prior to saving data."
            )));
        }
        many => {
            return Err(bad_request(format!(
                "Properties {} must be set prior to saving data.",
                many.join(", ")
            )));
        }
    }
    Ok(())
}

/// Reads the body chunk by chunk, hashing as it goes, up to [`SIZE_CAP`].
async fn receive(mut body: Body, expected: Option<u64>) -> Result<(Bytes, Digests), ApiError> {
    let too_large = || {
        err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The incoming image is too large: The provided image is too large.",
        )
    };
    let reserve = expected.filter(|n| *n <= SIZE_CAP).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(usize::try_from(reserve).unwrap_or(0));
    let mut hasher = Hasher::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| bad_request("Error reading the image data."))?;
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
        return Err(err(
            StatusCode::GONE,
            format!("Image {id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded."),
        ));
    };
    let inspected = format::checked_virtual_size(
        image.disk_format.as_deref(),
        image.container_format.as_deref(),
        &data,
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
        if image.status == ImageStatus::Deactivated && !caller.is_admin() {
            return Err(forbidden(
                "The requested image has been deactivated. Image data download is forbidden.",
            ));
        }
        if !caller.is_admin() && !caller.has_role("member") {
            return Err(not_authorized("download_image"));
        }
        match (image.stored(), &image.data) {
            (Some(d), Some(data)) => (data.clone(), d.md5.clone()),
            _ => return Ok(no_content()),
        }
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| byte_range(r, data.len() as u64))
        .transpose()?;
    Ok(data_response(data, &md5, range))
}

/// A `bytes=a-b`, `bytes=a-` or `bytes=-n` range, as (first, last) inclusive.
fn byte_range(spec: &str, size: u64) -> Result<(u64, u64), ApiError> {
    let unsatisfiable = || {
        err(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "Requested range not satisfiable",
        )
    };
    let (start, end) = spec
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(unsatisfiable)?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| unsatisfiable());
    let (first, last) = match (start.trim(), end.trim()) {
        ("", n) => {
            let n = parse(n)?.min(size);
            (size - n, size.saturating_sub(1))
        }
        (a, "") => (parse(a)?, size.saturating_sub(1)),
        (a, b) => (parse(a)?, parse(b)?.min(size.saturating_sub(1))),
    };
    if first > last || first >= size {
        return Err(unsatisfiable());
    }
    Ok((first, last))
}

fn data_response(data: Bytes, md5: &str, range: Option<(u64, u64)>) -> Response {
    let total = data.len();
    let (status, body, content_range) = match range {
        Some((a, b)) => {
            let slice = data.slice(a as usize..=b as usize);
            (
                StatusCode::PARTIAL_CONTENT,
                slice,
                Some(format!("bytes {a}-{b}/{total}")),
            )
        }
        None => (StatusCode::OK, data, None),
    };
    let len = body.len();
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(md5) {
        h.insert("content-md5", v);
    }
    if let Some(Ok(v)) = content_range.map(|c| HeaderValue::from_str(&c)) {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}
