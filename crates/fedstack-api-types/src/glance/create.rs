//! `POST /v2/images` bodies: validated and read as Glance's deserializer, image factory and
//! policy do, into the attributes of the new image.

use super::respond::{bad_request, forbidden, not_authorized};
use super::{schema, Actor, Attrs, Visibility};
use crate::{ApiError, Service};
use serde_json::{Map, Value};

/// Attributes a client may never send (`_disallowed_properties`).
const DISALLOWED: [&str; 5] = ["direct_url", "self", "file", "schema", "stores"];
/// Core attributes only Glance sets (`ImageFactory._readonly_properties`).
const READ_ONLY: [&str; 8] = [
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
];
/// The core attributes of an image, the rest being extra properties.
pub const BASE: [&str; 17] = [
    "checksum",
    "created_at",
    "container_format",
    "disk_format",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "size",
    "virtual_size",
    "status",
    "tags",
    "owner",
    "updated_at",
    "visibility",
    "protected",
    "os_hidden",
];
/// Extra property names reserved by the deserializer and the image factory.
const RESERVED: [&str; 8] = [
    "location",
    "deleted",
    "deleted_at",
    "owner",
    "locations",
    "direct_url",
    "self",
    "file",
];

/// A new image as the client asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Creation {
    /// The ID the client chose, if any.
    pub id: Option<String>,
    pub attrs: Attrs,
}

/// Reads a create body for `actor`, with Glance's 400s and 403s in Glance's order.
pub fn creation(body: Value, actor: &Actor) -> Result<Creation, ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::malformed_body(Service::Image));
    };
    if let Some(k) = DISALLOWED.iter().find(|k| body.contains_key(**k)) {
        return Err(forbidden(format!("Attribute '{k}' is read-only.")));
    }
    schema::validate_image(&Value::Object(body.clone())).map_err(bad_request)?;
    let tags = body.remove("tags");
    let (core, extra): (Map<String, Value>, Map<String, Value>) = body
        .into_iter()
        .partition(|(k, _)| BASE.contains(&k.as_str()));
    for key in extra.keys() {
        if key.chars().count() > 255 {
            return Err(bad_request(
                "Custom property should not be greater than 255 characters.",
            ));
        }
        check_reserved(key)?;
    }
    let owner = authorize(actor, &core)?;
    if let Some(k) = READ_ONLY.iter().find(|k| core.contains_key(**k)) {
        return Err(forbidden(format!("Attribute '{k}' is read-only.")));
    }
    let text = |k: &str| core.get(k).and_then(Value::as_str).map(str::to_string);
    let flag = |k: &str| core.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut attrs = Attrs {
        name: text("name"),
        owner,
        visibility: text("visibility")
            .and_then(|v| Visibility::parse(&v))
            .unwrap_or(Visibility::Shared),
        protected: flag("protected"),
        os_hidden: flag("os_hidden"),
        disk_format: text("disk_format"),
        container_format: text("container_format"),
        min_disk: core
            .get("min_disk")
            .map(|v| non_negative("min_disk", v))
            .transpose()?
            .unwrap_or(0),
        min_ram: core
            .get("min_ram")
            .map(|v| non_negative("min_ram", v))
            .transpose()?
            .unwrap_or(0),
        tags: Vec::new(),
        properties: extra,
    };
    for t in tags.iter().flat_map(|t| t.as_array()).flatten() {
        attrs.add_tag(t.as_str().unwrap_or_default());
    }
    Ok(Creation {
        id: text("id"),
        attrs,
    })
}

/// The 403 for a reserved attribute or one in Glance's `os_glance` namespace.
pub fn check_reserved(key: &str) -> Result<(), ApiError> {
    if RESERVED.contains(&key) || key.starts_with("os_glance") {
        return Err(forbidden(format!("Attribute '{key}' is reserved.")));
    }
    Ok(())
}

/// The owner of a new image, if the actor may create it there with its visibility
/// (`add_image`, `publicize_image`).
fn authorize(actor: &Actor, core: &Map<String, Value>) -> Result<String, ApiError> {
    let owner = match core.get("owner") {
        None => actor.project_id.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => "None".to_string(),
    };
    if !actor.may_modify(&owner) {
        if owner != actor.project_id {
            return Err(forbidden(format!(
                "You are not permitted to create images owned by '{owner}'"
            )));
        }
        return Err(not_authorized("add_image"));
    }
    if core.get("visibility").and_then(Value::as_str) == Some("public") && !actor.is_admin {
        return Err(not_authorized("publicize_image"));
    }
    Ok(owner)
}

/// A JSON integer (jsonschema accepts `1.0`).
fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
}

/// `min_disk`/`min_ram` as the domain model accepts them (no negative values).
pub fn non_negative(param: &str, v: &Value) -> Result<u64, ApiError> {
    let n = int(v).unwrap_or_default();
    u64::try_from(n).map_err(|_| {
        bad_request(format!(
            "Invalid value '{n}' for parameter '{param}': Cannot be a negative value"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MEMBER: Actor = Actor {
        project_id: "p1",
        is_admin: false,
        is_member: true,
    };

    #[test]
    fn reads_the_sample_body() {
        let c = creation(
            json!({"name": "capture-image", "disk_format": "raw", "container_format": "bare",
                   "visibility": "private", "min_disk": 0, "min_ram": 0, "tags": ["capture", "capture"],
                   "capture_origin": "fedstack"}),
            &MEMBER,
        )
        .unwrap();
        assert_eq!(c.id, None);
        assert_eq!(c.attrs.owner, "p1");
        assert_eq!(c.attrs.visibility, Visibility::Private);
        assert_eq!(c.attrs.tags, ["capture"]);
        assert_eq!(c.attrs.properties["capture_origin"], "fedstack");
        let d = creation(json!({}), &MEMBER).unwrap();
        assert_eq!(d.attrs.visibility, Visibility::Shared);
    }

    #[test]
    fn refuses_as_glance() {
        let e = |b: Value| creation(b, &MEMBER).unwrap_err();
        assert_eq!(
            e(json!({"self": "x"})).message,
            "Attribute 'self' is read-only."
        );
        assert_eq!(
            e(json!({"status": "active"})).message,
            "Attribute 'status' is read-only."
        );
        assert_eq!(
            e(json!({"os_glance_x": "1"})).message,
            "Attribute 'os_glance_x' is reserved."
        );
        assert_eq!(
            e(json!({"visibility": "public"})).message,
            "You are not authorized to complete publicize_image action."
        );
        assert_eq!(
            e(json!({"owner": "p2"})).message,
            "You are not permitted to create images owned by 'p2'"
        );
        assert_eq!(e(json!({"min_ram": -1})).status, 400);
        assert_eq!(e(json!([])).message, "Malformed JSON in request body.");
    }
}
