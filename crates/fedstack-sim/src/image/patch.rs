//! `PATCH /v2/images/{id}`: JSON-patch updates (`application/openstack-images-v2.1-json-patch`,
//! and the draft-4 style `v2.0-json-patch`), validated and applied as Glance does.

use super::api::{add_tag, json_body, non_negative, BASE};
use super::common::{
    bad_request, conflict, forbidden, json, media_type, not_authorized, unsupported_media_type,
    Caller, Res,
};
use super::model::{Image, ImageStatus, Visibility};
use super::{schema, view};
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use chrono::Utc;
use fedstack_api_types::ApiError;
use serde_json::{json, Value};

const DRAFT4: &str = "application/openstack-images-v2.0-json-patch";
const DRAFT10: &str = "application/openstack-images-v2.1-json-patch";
const OPS: &str = "add, remove, replace";
/// Attributes a patch may not touch (the deserializer's `_readonly_properties`).
const READ_ONLY: [&str; 13] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Add,
    Remove,
    Replace,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        match s {
            "add" => Some(Op::Add),
            "remove" => Some(Op::Remove),
            "replace" => Some(Op::Replace),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Remove => "remove",
            Op::Replace => "replace",
        }
    }
}

/// One validated operation.
struct Change {
    op: Op,
    /// The decoded pointer; its first element names the attribute.
    path: Vec<String>,
    value: Value,
    draft4: bool,
}

impl Change {
    fn root(&self) -> &str {
        self.path.first().map_or("", String::as_str)
    }
}

/// `PATCH /v2/images/{id}`.
pub async fn update(caller: Caller, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Res {
    let draft4 = match media_type(&headers).as_str() {
        DRAFT4 => true,
        DRAFT10 => false,
        _ => {
            let mut r = unsupported_media_type(&headers);
            r.headers_mut().insert(
                "accept-patch",
                HeaderValue::from_static(
                    "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
                ),
            );
            return Ok(r);
        }
    };
    let Value::Array(raw) = json_body(body).await? else {
        return Err(bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let changes = raw
        .iter()
        .map(|c| parse_change(c, draft4))
        .collect::<Result<Vec<_>, _>>()?;
    let now = Utc::now();
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(&id) {
        i.settle(now);
    }
    let mut image = caller.image(&g.image, &id)?.clone();
    for c in &changes {
        apply(&caller, &mut image, c)?;
    }
    if !changes.is_empty() {
        image.updated_at = now;
    }
    let body = view::image(&image);
    g.image.insert(image);
    Ok(json(StatusCode::OK, body))
}

/// Parses and validates one operation object, before the image is looked up.
fn parse_change(raw: &Value, draft4: bool) -> Result<Change, ApiError> {
    let obj = raw
        .as_object()
        .ok_or_else(|| bad_request("Operations must be JSON objects."))?;
    let (op, pointer) = if draft4 {
        let mut present = ["add", "remove", "replace"]
            .into_iter()
            .filter(|k| obj.contains_key(*k));
        let op = present.next().ok_or_else(|| {
            bad_request("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
        })?;
        if present.next().is_some() {
            return Err(bad_request(
                "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
            ));
        }
        (Op::parse(op).unwrap_or(Op::Add), &obj[op])
    } else {
        let op = obj.get("op").ok_or_else(|| {
            bad_request(format!(
                "Unable to find `op` in JSON Schema change. It must be one of the following: {OPS}."
            ))
        })?;
        let op = op.as_str().and_then(Op::parse).ok_or_else(|| {
            let shown = op.as_str().map_or_else(|| op.to_string(), str::to_string);
            bad_request(format!(
                "Invalid operation: `{shown}`. It must be one of the following: {OPS}."
            ))
        })?;
        let path = obj
            .get("path")
            .ok_or_else(|| bad_request("Unable to find 'path' in JSON Schema change"))?;
        (op, path)
    };
    let pointer = pointer
        .as_str()
        .map_or_else(|| pointer.to_string(), str::to_string);
    let path = decode_pointer(&pointer)?;
    check_depth(op, &path)?;
    let value = match op {
        Op::Remove => Value::Null,
        _ => obj.get("value").cloned().ok_or_else(|| {
            bad_request(format!(
                "Operation \"{}\" requires a member named \"value\".",
                op.name()
            ))
        })?,
    };
    let change = Change {
        op,
        path,
        value,
        draft4,
    };
    check_change(&change)?;
    Ok(change)
}

/// Glance's restricted JSON pointers, decoded (`~1` → `/`, `~0` → `~`).
fn decode_pointer(pointer: &str) -> Result<Vec<String>, ApiError> {
    let bad = |why: &str| bad_request(format!("Pointer `{pointer}` {why}"));
    if !pointer.starts_with('/') {
        return Err(bad("does not start with \"/\"."));
    }
    let tail = &pointer[1..];
    if adjacent_slashes(tail) {
        return Err(bad("contains adjacent \"/\"."));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(bad("end with \"/\"."));
    }
    if tail.trim() == "/" {
        return Err(bad("does not contains valid token."));
    }
    let bad_escape = pointer.ends_with('~')
        || pointer
            .split('~')
            .skip(1)
            .any(|rest| !rest.starts_with(['0', '1']));
    if bad_escape {
        return Err(bad(
            "contains \"~\" not part of a recognized escape sequence.",
        ));
    }
    Ok(pointer
        .trim_start_matches('/')
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~").trim().to_string())
        .collect())
}

/// `re.search(r'/\s*?/', s)`.
fn adjacent_slashes(s: &str) -> bool {
    let segs: Vec<&str> = s.split('/').collect();
    segs.len() > 2 && segs[1..segs.len() - 1].iter().any(|p| p.trim().is_empty())
}

/// Only `locations` takes a deeper pointer (`/locations/N` to add or remove).
fn check_depth(op: Op, path: &[String]) -> Result<(), ApiError> {
    let depth = match (path.first().map(String::as_str), op) {
        (Some("locations"), Op::Add | Op::Remove) => 2,
        _ => 1,
    };
    if path.len() != depth {
        return Err(bad_request(format!(
            "Invalid JSON pointer for this resource: '/{}'",
            path.join("/")
        )));
    }
    Ok(())
}

/// Read-only and reserved attributes, then the value against the image schema.
fn check_change(c: &Change) -> Result<(), ApiError> {
    let root = c.root();
    if READ_ONLY.contains(&root) {
        return Err(forbidden(format!("Attribute '{root}' is read-only.")));
    }
    if ["location", "deleted", "deleted_at"].contains(&root) || root.starts_with("os_glance") {
        return Err(forbidden(format!("Attribute '{root}' is reserved.")));
    }
    if c.op == Op::Remove {
        return Ok(());
    }
    let partial = if c.path.len() == 1 {
        json!({ root: c.value })
    } else if root == "locations" {
        json!({ root: [c.value] })
    } else {
        return Ok(());
    };
    schema::validate_image(&partial).map_err(bad_request)
}

/// Applies one change to the caller's copy of the image, with Glance's policy checks.
fn apply(caller: &Caller, image: &mut Image, c: &Change) -> Result<(), ApiError> {
    let root = c.root();
    if root == "locations" {
        return locations(caller, image, c);
    }
    if root == "owner" && c.op != Op::Remove && !caller.is_admin() {
        return Err(forbidden("Owner can't be updated by non admin."));
    }
    if root == "visibility" {
        match c.value.as_str() {
            Some("public") if !caller.is_admin() => return Err(not_authorized("publicize_image")),
            Some("community") if !caller.may_modify(image) => {
                return Err(not_authorized("communitize_image"));
            }
            _ => {}
        }
    }
    if !caller.may_modify(image) {
        return Err(not_authorized("modify_image"));
    }
    let core = BASE.contains(&root);
    match c.op {
        Op::Remove if core => Err(forbidden(format!("Property {root} may not be removed."))),
        Op::Remove => match image.properties.shift_remove(root) {
            Some(_) => Ok(()),
            None => Err(conflict(format!("Property {root} does not exist."))),
        },
        Op::Add if c.draft4 && (core || image.properties.contains_key(root)) => {
            Err(conflict(format!("Property {root} already present.")))
        }
        _ if core => set_core(image, root, &c.value),
        Op::Replace if !image.properties.contains_key(root) => {
            Err(conflict(format!("Property {root} does not exist.")))
        }
        _ => {
            image.properties.insert(root.to_string(), c.value.clone());
            Ok(())
        }
    }
}

/// Locations are hidden on this cloud (`show_multiple_locations = False`).
fn locations(caller: &Caller, image: &Image, c: &Change) -> Result<(), ApiError> {
    if c.op == Op::Replace && c.value.as_array().is_some_and(Vec::is_empty) {
        return Err(forbidden("Cannot set locations to empty list."));
    }
    let (action, verb) = match c.op {
        Op::Remove if !caller.is_admin() => return Err(not_authorized("delete_image_location")),
        Op::Remove => ("delete_image_location", "remove"),
        Op::Add => ("set_image_location", "add"),
        Op::Replace => ("set_image_location", "update"),
    };
    if !caller.may_modify(image) {
        return Err(not_authorized(action));
    }
    Err(forbidden(format!(
        "It's not allowed to {verb} locations if locations are invisible."
    )))
}

/// Sets a core attribute from a schema-valid value, with the domain model's rules.
fn set_core(image: &mut Image, key: &str, v: &Value) -> Result<(), ApiError> {
    let text = || v.as_str().map(str::to_string);
    match key {
        "name" => image.name = text(),
        "disk_format" | "container_format" => {
            if !matches!(image.status, ImageStatus::Queued | ImageStatus::Importing) {
                return Err(forbidden(format!(
                    "Attribute {key} can be only replaced for a queued image."
                )));
            }
            if key == "disk_format" {
                image.disk_format = text();
            } else {
                image.container_format = text();
            }
        }
        "visibility" => {
            image.visibility = v
                .as_str()
                .and_then(Visibility::parse)
                .unwrap_or(image.visibility)
        }
        "protected" => image.protected = v.as_bool().unwrap_or(image.protected),
        "os_hidden" => image.os_hidden = v.as_bool().unwrap_or(image.os_hidden),
        "min_disk" => image.min_disk = non_negative("min_disk", v)?,
        "min_ram" => image.min_ram = non_negative("min_ram", v)?,
        "owner" => image.owner = text().unwrap_or_default(),
        "tags" => {
            image.tags.clear();
            for t in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                add_tag(image, t);
            }
        }
        _ => {}
    }
    Ok(())
}
