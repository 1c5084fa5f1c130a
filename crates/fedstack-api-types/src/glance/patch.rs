//! JSON-patch updates of images (`application/openstack-images-v2.1-json-patch`, and the
//! draft-4 style `v2.0-json-patch`), validated and applied as Glance does.

use super::create::{non_negative, BASE};
use super::respond::{self, bad_request, conflict, forbidden, not_authorized};
use super::{schema, Actor, Attrs, ImageStatus, Visibility};
use crate::ApiError;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
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

/// The patch dialect a request's media type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `v2.0-json-patch`: `{"add": "/path", "value": ...}`.
    Draft4,
    /// `v2.1-json-patch`: `{"op": "add", "path": "/path", "value": ...}`.
    Draft10,
}

impl Dialect {
    /// The dialect of a media type, `None` for one Glance does not take (a 415).
    pub fn of(media_type: &str) -> Option<Dialect> {
        match media_type {
            DRAFT4 => Some(Dialect::Draft4),
            DRAFT10 => Some(Dialect::Draft10),
            _ => None,
        }
    }
}

/// The 415 of a PATCH in another media type, naming the ones Glance takes.
pub fn unsupported_media_type(headers: &HeaderMap) -> Response {
    let mut r = respond::unsupported_media_type(headers);
    r.headers_mut().insert(
        "accept-patch",
        HeaderValue::from_static(
            "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
        ),
    );
    r
}

/// A patch operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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
#[derive(Debug, Clone)]
pub struct Change {
    pub op: Op,
    /// The decoded pointer; its first element names the attribute.
    pub path: Vec<String>,
    pub value: Value,
    draft4: bool,
}

impl Change {
    /// The attribute the change is about.
    pub fn root(&self) -> &str {
        self.path.first().map_or("", String::as_str)
    }

    /// The change as a `v2.1-json-patch` operation, to send it on to another Glance.
    pub fn to_json(&self) -> Value {
        let pointer: String = self
            .path
            .iter()
            .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
            .collect();
        match self.op {
            Op::Remove => json!({"op": "remove", "path": pointer}),
            op => json!({"op": op.name(), "path": pointer, "value": self.value}),
        }
    }
}

/// Parses and validates a patch document, before the image is looked up.
pub fn parse(body: Value, dialect: Dialect) -> Result<Vec<Change>, ApiError> {
    let Value::Array(raw) = body else {
        return Err(bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    raw.iter()
        .map(|c| parse_change(c, dialect == Dialect::Draft4))
        .collect()
}

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
    let Some(tail) = pointer.strip_prefix('/') else {
        return Err(bad("does not start with \"/\"."));
    };
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

/// Applies the changes to `attrs` of an image in `status`, with Glance's policy checks for
/// `actor`. On error `attrs` may be partly changed: apply to a copy.
pub fn apply(
    changes: &[Change],
    attrs: &mut Attrs,
    status: ImageStatus,
    actor: &Actor,
) -> Result<(), ApiError> {
    changes
        .iter()
        .try_for_each(|c| apply_one(c, attrs, status, actor))
}

fn apply_one(
    c: &Change,
    a: &mut Attrs,
    status: ImageStatus,
    actor: &Actor,
) -> Result<(), ApiError> {
    let root = c.root();
    if root == "locations" {
        return locations(c, a, actor);
    }
    if root == "owner" && c.op != Op::Remove && !actor.is_admin {
        return Err(forbidden("Owner can't be updated by non admin."));
    }
    if root == "visibility" {
        match c.value.as_str() {
            Some("public") if !actor.is_admin => return Err(not_authorized("publicize_image")),
            Some("community") if !actor.may_modify(&a.owner) => {
                return Err(not_authorized("communitize_image"));
            }
            _ => {}
        }
    }
    if !actor.may_modify(&a.owner) {
        return Err(not_authorized("modify_image"));
    }
    let core = BASE.contains(&root);
    match c.op {
        Op::Remove if core => Err(forbidden(format!("Property {root} may not be removed."))),
        Op::Remove => match a.properties.shift_remove(root) {
            Some(_) => Ok(()),
            None => Err(conflict(format!("Property {root} does not exist."))),
        },
        Op::Add if c.draft4 && (core || a.properties.contains_key(root)) => {
            Err(conflict(format!("Property {root} already present.")))
        }
        _ if core => set_core(a, status, root, &c.value),
        Op::Replace if !a.properties.contains_key(root) => {
            Err(conflict(format!("Property {root} does not exist.")))
        }
        _ => {
            a.properties.insert(root.to_string(), c.value.clone());
            Ok(())
        }
    }
}

/// Locations are hidden (`show_multiple_locations = False`).
fn locations(c: &Change, a: &Attrs, actor: &Actor) -> Result<(), ApiError> {
    if c.op == Op::Replace && c.value.as_array().is_some_and(Vec::is_empty) {
        return Err(forbidden("Cannot set locations to empty list."));
    }
    let (action, verb) = match c.op {
        Op::Remove if !actor.is_admin => return Err(not_authorized("delete_image_location")),
        Op::Remove => ("delete_image_location", "remove"),
        Op::Add => ("set_image_location", "add"),
        Op::Replace => ("set_image_location", "update"),
    };
    if !actor.may_modify(&a.owner) {
        return Err(not_authorized(action));
    }
    Err(forbidden(format!(
        "It's not allowed to {verb} locations if locations are invisible."
    )))
}

/// Sets a core attribute from a schema-valid value, with the domain model's rules.
fn set_core(a: &mut Attrs, status: ImageStatus, key: &str, v: &Value) -> Result<(), ApiError> {
    let text = || v.as_str().map(str::to_string);
    match key {
        "name" => a.name = text(),
        "disk_format" | "container_format" => {
            if !matches!(status, ImageStatus::Queued | ImageStatus::Importing) {
                return Err(forbidden(format!(
                    "Attribute {key} can be only replaced for a queued image."
                )));
            }
            if key == "disk_format" {
                a.disk_format = text();
            } else {
                a.container_format = text();
            }
        }
        "visibility" => {
            a.visibility = v
                .as_str()
                .and_then(Visibility::parse)
                .unwrap_or(a.visibility)
        }
        "protected" => a.protected = v.as_bool().unwrap_or(a.protected),
        "os_hidden" => a.os_hidden = v.as_bool().unwrap_or(a.os_hidden),
        "min_disk" => a.min_disk = non_negative("min_disk", v)?,
        "min_ram" => a.min_ram = non_negative("min_ram", v)?,
        "owner" => a.owner = text().unwrap_or_default(),
        "tags" => {
            a.tags.clear();
            for t in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                a.add_tag(t);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Actor = Actor {
        project_id: "p1",
        is_admin: false,
        is_member: true,
    };

    fn attrs() -> Attrs {
        Attrs {
            owner: "p1".into(),
            ..Attrs::default()
        }
    }

    #[test]
    fn applies_draft10_changes() {
        let changes = parse(
            json!([{"op": "replace", "path": "/name", "value": "n"},
                   {"op": "add", "path": "/k~1x", "value": "v"},
                   {"op": "remove", "path": "/k~1x"},
                   {"op": "add", "path": "/tags", "value": ["a", "a", "b"]}]),
            Dialect::Draft10,
        )
        .unwrap();
        let mut a = attrs();
        apply(&changes, &mut a, ImageStatus::Active, &OWNER).unwrap();
        assert_eq!(a.name.as_deref(), Some("n"));
        assert!(a.properties.is_empty());
        assert_eq!(a.tags, ["a", "b"]);
    }

    #[test]
    fn refuses_as_glance() {
        let parse10 = |v: Value| parse(v, Dialect::Draft10).unwrap_err().message;
        assert_eq!(
            parse10(json!([{"op": "replace", "path": "/status", "value": "active"}])),
            "Attribute 'status' is read-only."
        );
        assert_eq!(
            parse10(json!([{"op": "move", "path": "/name"}])),
            "Invalid operation: `move`. It must be one of the following: add, remove, replace."
        );
        assert_eq!(
            parse10(json!({})),
            "Request body must be a JSON array of operation objects."
        );
        let c = parse(
            json!([{"replace": "/disk_format", "value": "raw"}]),
            Dialect::Draft4,
        )
        .unwrap();
        let e = apply(&c, &mut attrs(), ImageStatus::Active, &OWNER).unwrap_err();
        assert_eq!(
            e.message,
            "Attribute disk_format can be only replaced for a queued image."
        );
        let other = Actor {
            project_id: "p2",
            ..OWNER
        };
        let c = parse(
            json!([{"op": "add", "path": "/x", "value": "1"}]),
            Dialect::Draft10,
        )
        .unwrap();
        let e = apply(&c, &mut attrs(), ImageStatus::Active, &other).unwrap_err();
        assert_eq!(
            e.message,
            "You are not authorized to complete modify_image action."
        );
        assert_eq!(Dialect::of("application/json"), None);
        let c = parse(
            json!([{"add": "/a~1b", "value": "v"}, {"remove": "/c"}]),
            Dialect::Draft4,
        )
        .unwrap();
        assert_eq!(
            c[0].to_json(),
            json!({"op": "add", "path": "/a~1b", "value": "v"})
        );
        assert_eq!(c[1].to_json(), json!({"op": "remove", "path": "/c"}));
    }
}
