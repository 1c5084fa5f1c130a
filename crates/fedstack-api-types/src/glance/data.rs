//! Image data transfer as Glance rules it: who may upload and download, the states an
//! upload needs, sizes, ranges and the headers of the data.

use super::respond::{bad_request, conflict, err, forbidden, not_authorized};
use super::{Actor, ImageStatus};
use crate::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The only media type `PUT /v2/images/{id}/file` takes.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// `x-openstack-image-size`, else `Content-Length`, as Glance reads the expected size.
pub fn declared_size(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
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

/// Checks an image in `status` may take data now, moving to `to` (`saving` for data to
/// store, `uploading` for data to stage).
pub fn check_queued(status: ImageStatus, to: ImageStatus) -> Result<(), ApiError> {
    if status == ImageStatus::Queued {
        Ok(())
    } else {
        Err(conflict(format!(
            "Image status transition from {status} to {to} is not allowed"
        )))
    }
}

/// Data can only be saved once both formats are set.
pub fn require_formats(
    disk_format: Option<&str>,
    container_format: Option<&str>,
) -> Result<(), ApiError> {
    let missing: Vec<&str> = [
        ("disk_format", disk_format.is_none()),
        ("container_format", container_format.is_none()),
    ]
    .into_iter()
    .filter_map(|(k, absent)| absent.then_some(k))
    .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(bad_request(format!(
            "Property {one} must be set prior to saving data."
        ))),
        many => Err(bad_request(format!(
            "Properties {} must be set prior to saving data.",
            many.join(", ")
        ))),
    }
}

/// The 413 of data past the size cap.
pub fn too_large() -> ApiError {
    err(
        StatusCode::PAYLOAD_TOO_LARGE,
        "The incoming image is too large: The provided image is too large.",
    )
}

/// The 400 of a body that broke off.
pub fn read_error() -> ApiError {
    bad_request("Error reading the image data.")
}

/// The 410 of an image deleted while its data was uploading.
pub fn gone_after_upload(id: &str) -> ApiError {
    err(
        StatusCode::GONE,
        format!("Image {id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded."),
    )
}

/// Checks `actor` may download the data of an image in `status`.
pub fn check_download(status: ImageStatus, actor: &Actor) -> Result<(), ApiError> {
    if status == ImageStatus::Deactivated && !actor.is_admin {
        return Err(forbidden(
            "The requested image has been deactivated. Image data download is forbidden.",
        ));
    }
    if !actor.is_admin && !actor.is_member {
        return Err(not_authorized("download_image"));
    }
    Ok(())
}

/// A `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` header, as (first, last) inclusive.
pub fn byte_range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(spec) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
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
    Ok(Some((first, last)))
}

/// The answer carrying image data: `body` holds the whole data of `total` bytes, or the
/// `range` of it.
pub fn data_response(body: Body, total: u64, md5: &str, range: Option<(u64, u64)>) -> Response {
    let (status, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, b - a + 1),
        None => (StatusCode::OK, total),
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(md5) {
        h.insert("content-md5", v);
    }
    if let Some((a, b)) = range {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{total}")) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, size: u64) -> Result<Option<(u64, u64)>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(spec).unwrap());
        byte_range(&h, size)
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(range("bytes=0-500", 100).unwrap(), Some((0, 99)));
        assert_eq!(range("bytes=100-", 100).unwrap_err().status, 416);
        assert_eq!(range("items=1-2", 100).unwrap_err().status, 416);
        assert_eq!(byte_range(&HeaderMap::new(), 100).unwrap(), None);
    }

    #[test]
    fn uploads_need_a_queued_image_with_formats() {
        assert_eq!(
            require_formats(None, None).unwrap_err().message,
            "Properties disk_format, container_format must be set prior to saving data."
        );
        assert_eq!(
            require_formats(Some("raw"), None).unwrap_err().message,
            "Property container_format must be set prior to saving data."
        );
        assert!(require_formats(Some("raw"), Some("bare")).is_ok());
        assert!(check_queued(ImageStatus::Queued, ImageStatus::Saving).is_ok());
        assert_eq!(
            check_queued(ImageStatus::Active, ImageStatus::Saving)
                .unwrap_err()
                .message,
            "Image status transition from active to saving is not allowed"
        );
    }
}
