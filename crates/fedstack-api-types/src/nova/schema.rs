//! Nova's request schemas: its `parameter_types` building blocks, the server create body per
//! microversion, and validation answering Nova's 400s (`badRequest`).

use crate::{jsonschema, ApiError, Microversion, Service};
use serde_json::{json, Value};

/// Validates a request body against `schema`, with Nova's 400 on the first error.
pub fn validate(schema: &Value, body: &Value) -> Result<(), ApiError> {
    jsonschema::validate(Service::Compute, schema, body)
}

/// Validates one query parameter's value against `schema`, with Nova's 400.
pub fn validate_query(name: &str, schema: &Value, value: &Value) -> Result<(), ApiError> {
    jsonschema::validate_query(Service::Compute, name, schema, value)
}

/// `parameter_types.name`: 1 to 255 printable characters, no surrounding whitespace.
pub fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name"})
}

/// `parameter_types.boolean`: booleans and their usual spellings.
pub fn boolean() -> Value {
    json!({"type": ["boolean", "string"], "enum": [
        true, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
        false, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"]})
}

/// The truth of a value that passed [`boolean`].
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "on" | "yes"),
        _ => false,
    }
}

/// `parameter_types.metadata`: string keys and values up to 255 characters.
pub fn metadata() -> Value {
    json!({
        "type": "object",
        "patternProperties": {
            "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}
        },
        "additionalProperties": false
    })
}

/// `parameter_types.positive_integer`: an integer or a string of digits, at least 1.
pub fn positive_integer() -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1})
}

/// The integer of a value that passed [`positive_integer`] (or a similar schema).
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `parameter_types.tag`: a server tag (2.26+).
pub fn tag() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"})
}

/// A server's `description` (create and update, 2.19+).
pub fn server_description() -> Value {
    json!({"type": ["string", "null"], "minLength": 0, "maxLength": 255})
}

/// A server's `hostname` (create and update, 2.90+).
pub fn server_hostname() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255,
           "pattern": "^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$"})
}

/// The body of `POST /servers` at `mv`: `networks` is required from 2.37 (and may be `auto`
/// or `none`), `personality` goes at 2.57; `description` (2.19), `tags` (2.52), `host` and
/// `hypervisor_hostname` (2.74) and `hostname` (2.90) arrive.
pub fn server_create_schema(mv: Microversion) -> Value {
    let mut props = json!({
        "name": name(),
        "imageRef": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "adminPass": {"type": "string"},
        "metadata": metadata(),
        "networks": networks(mv),
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "availability_zone": name(),
        "block_device_mapping_v2": {"type": "array", "items": block_device_mapping()},
        "config_drive": boolean(),
        "key_name": name(),
        "min_count": positive_integer(),
        "max_count": positive_integer(),
        "return_reservation_id": boolean(),
        "security_groups": {"type": "array", "items": {
            "type": "object", "properties": {"name": name()}, "additionalProperties": false}},
        "user_data": {"type": "string", "format": "base64", "maxLength": 65535},
    });
    if !mv.at_least(2, 57) {
        props["personality"] = json!({"type": "array", "items": {"type": "object",
            "properties": {"path": {"type": "string"}, "contents": {"type": "string", "format": "base64"}},
            "additionalProperties": false}});
    }
    if mv.at_least(2, 19) {
        props["description"] = server_description();
    }
    if mv.at_least(2, 52) {
        props["tags"] = json!({"type": "array", "items": tag(), "maxItems": 50});
    }
    if mv.at_least(2, 74) {
        props["host"] = name();
        props["hypervisor_hostname"] = name();
    }
    if mv.at_least(2, 90) {
        props["hostname"] = server_hostname();
    }
    let required = if mv.at_least(2, 37) {
        json!(["name", "flavorRef", "networks"])
    } else {
        json!(["name", "flavorRef"])
    };
    let hints = json!({"type": "object", "properties": {
        "group": {"type": "string", "format": "uuid"}}, "additionalProperties": true});
    json!({
        "type": "object",
        "properties": {
            "server": {"type": "object", "properties": props, "required": required,
                       "additionalProperties": false},
            "os:scheduler_hints": hints,
            "OS-SCH-HNT:scheduler_hints": hints,
        },
        "required": ["server"],
        "additionalProperties": false,
    })
}

/// Validates a `POST /servers` body at `mv` with Nova's 400 messages
/// (`Invalid input for field/attribute server. Value: {...}. 'name' is a required property`).
/// Checks that need data (the flavor, image, networks exist) are left to the caller.
pub fn validate_server_create(body: &Value, mv: Microversion) -> Result<(), ApiError> {
    validate(&server_create_schema(mv), body)
}

/// A server create's `networks`: a list of NICs (each with a `tag` from 2.32), or `auto` /
/// `none` from 2.37.
fn networks(mv: Microversion) -> Value {
    let mut item = json!({
        "fixed_ip": {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        "port": {"oneOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]},
        "uuid": {"type": "string"},
    });
    if mv.at_least(2, 32) {
        item["tag"] = tag();
    }
    let list = json!({"type": "array", "items": {
        "type": "object", "properties": item, "additionalProperties": false}});
    if mv.at_least(2, 37) {
        json!({"oneOf": [list, {"type": "string", "enum": ["none", "auto"]}]})
    } else {
        list
    }
}

/// One entry of a server create's `block_device_mapping_v2`.
fn block_device_mapping() -> Value {
    json!({"type": "object", "properties": {
        "source_type": {"type": "string", "enum": ["volume", "image", "snapshot", "blank"]},
        "uuid": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9._-]*$"},
        "image_id": {"type": "string", "format": "uuid"},
        "destination_type": {"type": "string", "enum": ["local", "volume"]},
        "guest_format": {"type": "string", "maxLength": 255},
        "device_type": {"type": "string", "maxLength": 255},
        "disk_bus": {"type": "string", "maxLength": 255},
        "boot_index": {"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$"},
        "device_name": {"type": "string", "maxLength": 255},
        "delete_on_termination": boolean(),
        "volume_size": {"type": ["integer", "string", "null"], "pattern": "^[0-9]*$", "minimum": 0},
        "volume_id": {"type": "string", "format": "uuid"},
        "snapshot_id": {"type": "string", "format": "uuid"},
        "no_device": {},
        "tag": tag(),
        "volume_type": {"type": ["string", "null"], "minLength": 0, "maxLength": 255},
    }, "additionalProperties": false})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request and the 400 message of a captured Nova sample.
    fn sample(name: &str) -> (Value, String) {
        let path = format!(
            "{}/../../../shared/openstack-samples/compute/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).expect("sample JSON");
        let message = v["response"]["body"]["badRequest"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (v["request"]["body"].clone(), message)
    }

    #[test]
    fn server_create_answers_novas_400s() {
        let (body, want) = sample("027-servers-create-missing-name");
        let e = validate_server_create(&body, Microversion::new(2, 1)).unwrap_err();
        assert_eq!((e.service, e.status.as_u16()), (Service::Compute, 400));
        assert_eq!(e.message, want);
        let (body, want) = sample("028-servers-create-no-networks-mv2.103");
        assert!(validate_server_create(&body, Microversion::new(2, 36)).is_ok());
        let e = validate_server_create(&body, Microversion::new(2, 103)).unwrap_err();
        assert_eq!(e.message, want);
        // Unknown flavors and images pass the schema: they are data checks.
        for name in [
            "024-servers-create-bad-flavor",
            "025-servers-create-bad-image",
        ] {
            let (body, _) = sample(name);
            assert!(validate_server_create(&body, Microversion::new(2, 1)).is_ok());
        }
    }

    #[test]
    fn server_create_fields_follow_microversions() {
        let body = |server: Value| json!({ "server": server });
        let base = json!({"name": "a", "flavorRef": "1", "networks": "auto"});
        let mut with_tags = base.clone();
        with_tags["tags"] = json!(["x"]);
        assert!(validate_server_create(&body(with_tags.clone()), Microversion::new(2, 52)).is_ok());
        let e = validate_server_create(&body(with_tags), Microversion::new(2, 51)).unwrap_err();
        assert!(e
            .message
            .ends_with("Additional properties are not allowed ('tags' was unexpected)"));
        let e = validate_server_create(
            &body(json!({"name": "a", "flavorRef": "1", "networks": "some"})),
            Microversion::new(2, 37),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for field/attribute networks. Value: some. 'some' is not valid under any of the given schemas"
        );
        let mut hinted = json!({"server": base, "os:scheduler_hints": {"group": "nope"}});
        let e = validate_server_create(&hinted, Microversion::new(2, 103)).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for field/attribute group. Value: nope. 'nope' is not a 'uuid'"
        );
        hinted["os:scheduler_hints"]["group"] = json!("0d9b7c8e-1e4a-4bd0-9b8e-5a3f8c6f9e21");
        assert!(validate_server_create(&hinted, Microversion::new(2, 103)).is_ok());
    }

    #[test]
    fn parameter_types() {
        assert!(validate(&metadata(), &json!({"k": 1})).is_err());
        assert!(validate(&boolean(), &json!("Yes")).is_ok());
        assert!(truthy(&json!("Yes")) && !truthy(&json!("off")) && truthy(&json!(true)));
        assert_eq!(as_int(&json!("12")), Some(12));
        assert!(validate(&positive_integer(), &json!(0)).is_err());
        assert!(validate(&tag(), &json!("a,b")).is_err());
        let e = validate_query("limit", &positive_integer(), &json!("x")).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for query parameters limit. Value: x. 'x' does not match '^[0-9]*$'"
        );
    }
}
