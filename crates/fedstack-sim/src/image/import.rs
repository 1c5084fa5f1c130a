//! `POST /v2/images/{id}/import`: the interoperable import methods this site advertises.
//! `glance-direct` turns staged data into the image (importing → active after the image
//! delay); `web-download` is accepted but fails, the simulator reaching no outside URL;
//! `copy-image` has nowhere to copy to, the site having one store.

use super::common::{bad_request, conflict, err, not_authorized, Caller};
use super::model::{Image, ImageStatus, Stored};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fedstack_api_types::glance::discovery::IMPORT_METHODS;
use fedstack_api_types::glance::format::checked_virtual_size;
use fedstack_api_types::glance::respond::json_body;
use fedstack_api_types::glance::STORE;
use fedstack_api_types::ApiError;
use serde_json::{Map, Value};

/// Properties Glance's import task leaves on the image.
const IMPORTING_TO: &str = "os_glance_importing_to_stores";
const FAILED: &str = "os_glance_failed_import";

/// The parts of an import request that matter here.
struct ImportRequest {
    method: String,
    uri: Option<String>,
    stores: Vec<String>,
    all_stores: bool,
}

/// `POST /v2/images/{id}/import`.
pub async fn import(
    caller: Caller,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let req = parse(json_body(body).await?)?;
    let now = Utc::now();
    let delay = chrono::Duration::from_std(caller.site.timing.image()).unwrap_or_default();
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(&id) {
        i.settle(now);
    }
    check_state(caller.image(&g.image, &id)?, &req.method)?;
    let copying = req.method == "copy-image";
    let image = if copying {
        if !caller.is_admin() {
            return Err(not_authorized("copy_image"));
        }
        caller.image_mut(&mut g.image, &id, "copy_image")?
    } else {
        caller.image_mut(&mut g.image, &id, "modify_image")?
    };
    match req.method.as_str() {
        "glance-direct" => finish_direct(image, now, now + delay),
        "web-download" => web_download(image, req.uri.as_deref())?,
        _ => copy(&req)?,
    }
    Ok(accepted())
}

/// Glance's `import` deserializer.
fn parse(body: Value) -> Result<ImportRequest, ApiError> {
    let method = body
        .get("method")
        .ok_or_else(|| bad_request("Import request requires a 'method' field."))?;
    let name = method
        .get("name")
        .ok_or_else(|| bad_request("Import request requires a 'name' field."))?;
    let name = name
        .as_str()
        .map_or_else(|| name.to_string(), str::to_string);
    if !IMPORT_METHODS.contains(&name.as_str()) {
        return Err(bad_request(format!("Unknown import method name '{name}'.")));
    }
    for (flag, default) in [("all_stores_must_succeed", true), ("all_stores", false)] {
        if !body
            .get(flag)
            .map_or(Value::Bool(default), Value::clone)
            .is_boolean()
        {
            return Err(bad_request(format!("'{flag}' must be boolean value only")));
        }
    }
    let stores = body
        .get("stores")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| vec![STORE.to_string()]);
    Ok(ImportRequest {
        method: name,
        uri: method
            .get("uri")
            .and_then(Value::as_str)
            .map(str::to_string),
        stores,
        all_stores: body
            .get("all_stores")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The state each method needs, with the controller's 409s.
fn check_state(image: &Image, method: &str) -> Result<(), ApiError> {
    let status = image.status;
    let refusal = match method {
        "copy-image" if status != ImageStatus::Active => {
            Some("Only images with status active can be targeted for copying".to_string())
        }
        "copy-image" => None,
        _ if status == ImageStatus::Active => {
            Some("Image with status active cannot be target for import".to_string())
        }
        "web-download" if status != ImageStatus::Queued => Some(format!(
            "Image needs to be in 'queued' state to use '{method}' method"
        )),
        "glance-direct" if status != ImageStatus::Uploading => {
            Some("Image needs to be staged before 'glance-direct' method can be used".to_string())
        }
        _ if image.container_format.is_none() => {
            Some("'container_format' needs to be set before import".to_string())
        }
        _ if image.disk_format.is_none() => {
            Some("'disk_format' needs to be set before import".to_string())
        }
        _ => None,
    };
    refusal.map_or(Ok(()), |msg| Err(conflict(msg)))
}

/// Imports the staged data: `importing` until `ready_at`, then `active`; data that is not
/// its `disk_format` fails the import and the image goes back to `queued`.
fn finish_direct(image: &mut Image, now: chrono::DateTime<Utc>, ready_at: chrono::DateTime<Utc>) {
    let (Some(data), Some(digests)) = (image.data.take(), image.digests.take()) else {
        fail(image);
        return;
    };
    let checked = checked_virtual_size(
        image.disk_format.as_deref(),
        image.container_format.as_deref(),
        &data,
        data.len() as u64,
    );
    let Ok(virtual_size) = checked else {
        fail(image);
        return;
    };
    image.store(
        data,
        Stored {
            digests,
            virtual_size,
        },
        now,
        ready_at,
    );
    if image.status == ImageStatus::Saving {
        image.status = ImageStatus::Importing;
    }
    set_task_properties(&mut image.properties, "");
}

/// `web-download` needs a URL the import filter lets through; the download itself fails.
fn web_download(image: &mut Image, uri: Option<&str>) -> Result<(), ApiError> {
    let uri = uri.unwrap_or_default();
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(bad_request(format!(
            "URI for web-download does not pass filtering: {uri}"
        )));
    }
    fail(image);
    Ok(())
}

/// Every requested store already holds the image (this site has only one).
fn copy(req: &ImportRequest) -> Result<(), ApiError> {
    if req.all_stores {
        return Ok(());
    }
    match req.stores.iter().find(|s| s.as_str() != STORE) {
        Some(unknown) => Err(err(
            StatusCode::CONFLICT,
            format!("Store for identifier {unknown} not found"),
        )),
        None => Err(bad_request(format!(
            "Image is already present at store '{STORE}'"
        ))),
    }
}

/// A failed import task: back to `queued`, the store named in `os_glance_failed_import`.
fn fail(image: &mut Image) {
    image.status = ImageStatus::Queued;
    image.data = None;
    image.digests = None;
    image.virtual_size = None;
    image.ready_at = None;
    image.updated_at = Utc::now();
    set_task_properties(&mut image.properties, STORE);
}

fn set_task_properties(props: &mut Map<String, Value>, failed: &str) {
    props.insert(IMPORTING_TO.into(), "".into());
    props.insert(FAILED.into(), failed.into());
}

/// Glance's empty 202.
fn accepted() -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}
