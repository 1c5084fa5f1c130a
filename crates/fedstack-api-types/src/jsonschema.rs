//! Request validation as Nova and Cinder do it: the subset of JSON schema their API schemas
//! use, stopping at the first error with the message Python's `jsonschema` gives and the
//! services' wording around it
//! (`Invalid input for field/attribute name. Value: .... 'x' is too long`).
//!
//! Schemas are plain JSON values; service modules build them (see [`crate::nova::schema`]).

use crate::pyrepr::{repr, repr_str};
use crate::{time, ApiError, Service};
use base64::Engine;
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Validates a request body against `schema`: a 400 of `service` on the first error.
pub fn validate(service: Service, schema: &Value, body: &Value) -> Result<(), ApiError> {
    check(schema, body, None).map_or(Ok(()), |f| {
        Err(ApiError::bad_request(service, f.body_message()))
    })
}

/// Validates one query parameter's value against `schema`, with the query-parameter wording
/// (`Invalid input for query parameters limit. Value: x. ...`).
pub fn validate_query(
    service: Service,
    name: &str,
    schema: &Value,
    value: &Value,
) -> Result<(), ApiError> {
    check(schema, value, None).map_or(Ok(()), |f| {
        Err(ApiError::bad_request(
            service,
            format!(
                "Invalid input for query parameters {name}. Value: {}. {}",
                plain(value),
                f.message
            ),
        ))
    })
}

/// oslo's `is_uuid_like`, the `uuid` format: 32 hex digits, dashes anywhere.
pub fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A value as Python's `%s` prints it (strings bare).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// The first validation error: where it happened and what jsonschema says.
struct Failure {
    /// The last element of the path to the failing value; `None` at the top level (and for
    /// errors the services raise bare, like Nova's invalid `name`).
    field: Option<String>,
    instance: Value,
    message: String,
}

impl Failure {
    /// The services' wording: the field and value when the error is below the top level.
    fn body_message(&self) -> String {
        match &self.field {
            Some(f) => format!(
                "Invalid input for field/attribute {f}. Value: {}. {}",
                plain(&self.instance),
                self.message
            ),
            None => self.message.clone(),
        }
    }
}

fn fail(field: Option<&str>, instance: &Value, message: String) -> Option<Failure> {
    Some(Failure {
        field: field.map(str::to_string),
        instance: instance.clone(),
        message,
    })
}

/// Checks `v` against `schema`; `field` is the key (or index) `v` was found under.
fn check(schema: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let Value::Object(kw) = schema else {
        return None;
    };
    kw.iter().find_map(|(key, arg)| match key.as_str() {
        "type" => check_type(arg, v, field),
        "enum" => check_enum(arg, v, field),
        "properties" => check_properties(arg, v),
        "required" => check_required(arg, v, field),
        "additionalProperties" => check_additional(kw, arg, v, field),
        "patternProperties" => check_pattern_properties(arg, v),
        "minLength" | "maxLength" | "pattern" | "format" => check_string(key, arg, v, field),
        "minimum" | "maximum" => check_number(key, arg, v, field),
        "items" => check_items(arg, v),
        "minItems" | "maxItems" | "uniqueItems" => check_array(key, arg, v, field),
        "oneOf" | "anyOf" => check_one_of(arg, v, field),
        _ => None,
    })
}

fn is_type(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn check_type(arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let types: Vec<&str> = match arg {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if types.iter().any(|t| is_type(t, v)) {
        return None;
    }
    let names: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
    fail(
        field,
        v,
        format!("{} is not of type {}", repr(v), names.join(", ")),
    )
}

fn check_enum(arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let options = arg.as_array()?;
    if options.contains(v) {
        return None;
    }
    fail(field, v, format!("{} is not one of {}", repr(v), repr(arg)))
}

fn check_properties(arg: &Value, v: &Value) -> Option<Failure> {
    let (Value::Object(props), Value::Object(obj)) = (arg, v) else {
        return None;
    };
    props.iter().find_map(|(name, sub)| {
        obj.get(name)
            .and_then(|value| check(sub, value, Some(name)))
    })
}

fn check_required(arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let (Value::Array(names), Value::Object(obj)) = (arg, v) else {
        return None;
    };
    let missing = names
        .iter()
        .filter_map(Value::as_str)
        .find(|n| !obj.contains_key(*n))?;
    fail(field, v, format!("'{missing}' is a required property"))
}

fn check_additional(
    kw: &Map<String, Value>,
    arg: &Value,
    v: &Value,
    field: Option<&str>,
) -> Option<Failure> {
    let Value::Object(obj) = v else {
        return None;
    };
    let props = kw.get("properties").and_then(Value::as_object);
    let patterns: Vec<&str> = kw
        .get("patternProperties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let extras: Vec<&String> = obj
        .keys()
        .filter(|k| !props.is_some_and(|p| p.contains_key(*k)))
        .filter(|k| !patterns.iter().any(|p| regex_match(p, k)))
        .collect();
    if extras.is_empty() {
        return None;
    }
    let listed = || {
        extras
            .iter()
            .map(|k| repr_str(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match arg {
        Value::Bool(false) if !patterns.is_empty() => {
            let verb = if extras.len() == 1 { "does" } else { "do" };
            let regexes: Vec<String> = patterns.iter().map(|p| repr_str(p)).collect();
            fail(
                field,
                v,
                format!(
                    "{} {verb} not match any of the regexes: {}",
                    listed(),
                    regexes.join(", ")
                ),
            )
        }
        Value::Bool(false) => {
            let verb = if extras.len() == 1 { "was" } else { "were" };
            fail(
                field,
                v,
                format!(
                    "Additional properties are not allowed ({} {verb} unexpected)",
                    listed()
                ),
            )
        }
        Value::Object(_) => extras
            .iter()
            .find_map(|k| check(arg, &obj[k.as_str()], Some(k))),
        _ => None,
    }
}

fn check_pattern_properties(arg: &Value, v: &Value) -> Option<Failure> {
    let (Value::Object(patterns), Value::Object(obj)) = (arg, v) else {
        return None;
    };
    patterns.iter().find_map(|(pattern, sub)| {
        obj.iter()
            .filter(|(k, _)| regex_match(pattern, k))
            .find_map(|(k, value)| check(sub, value, Some(k)))
    })
}

fn check_string(key: &str, arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let s = v.as_str()?;
    let len = s.chars().count() as u64;
    let message = match key {
        "minLength" if len < arg.as_u64()? => too_short(v, arg),
        "maxLength" if len > arg.as_u64()? => format!("{} is too long", repr(v)),
        "pattern" if !regex_match(arg.as_str()?, s) => {
            format!("{} does not match {}", repr(v), repr(arg))
        }
        "format" => return check_format(arg.as_str()?, v, s, field),
        _ => return None,
    };
    fail(field, v, message)
}

/// jsonschema's message for a string or array under its minimum length.
fn too_short(v: &Value, min: &Value) -> String {
    if min.as_u64() == Some(1) {
        format!("{} should be non-empty", repr(v))
    } else {
        format!("{} is too short", repr(v))
    }
}

fn check_format(format: &str, v: &Value, s: &str, field: Option<&str>) -> Option<Failure> {
    let ok = match format {
        "uuid" => is_uuid_like(s),
        "date-time" => time::parse(s).is_some() && s.contains('T'),
        "base64" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        // Nova raises its own InvalidName, whose message is answered bare.
        "name" => {
            return (s.trim() != s || s.chars().any(char::is_control)).then(|| Failure {
                field: None,
                instance: v.clone(),
                message: "An invalid 'name' value was provided. The name must be: printable \
                          characters. Can not start or end with whitespace."
                    .into(),
            })
        }
        _ => true,
    };
    if ok {
        return None;
    }
    fail(field, v, format!("{} is not a '{format}'", repr(v)))
}

fn check_number(key: &str, arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let n = v.as_f64()?;
    let limit = arg.as_f64()?;
    let message = match key {
        "minimum" if n < limit => {
            format!("{} is less than the minimum of {}", repr(v), repr(arg))
        }
        "maximum" if n > limit => {
            format!("{} is greater than the maximum of {}", repr(v), repr(arg))
        }
        _ => return None,
    };
    fail(field, v, message)
}

fn check_items(arg: &Value, v: &Value) -> Option<Failure> {
    let items = v.as_array()?;
    items
        .iter()
        .enumerate()
        .find_map(|(i, item)| check(arg, item, Some(&i.to_string())))
}

fn check_array(key: &str, arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let items = v.as_array()?;
    let n = items.len() as u64;
    let message = match key {
        "minItems" if n < arg.as_u64()? => too_short(v, arg),
        "maxItems" if n > arg.as_u64()? => format!("{} is too long", repr(v)),
        "uniqueItems"
            if arg.as_bool() == Some(true)
                && items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].contains(a)) =>
        {
            format!("{} has non-unique elements", repr(v))
        }
        _ => return None,
    };
    fail(field, v, message)
}

fn check_one_of(arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let options = arg.as_array()?;
    if options.iter().any(|o| check(o, v, field).is_none()) {
        return None;
    }
    fail(
        field,
        v,
        format!("{} is not valid under any of the given schemas", repr(v)),
    )
}

/// Compiled patterns of the schemas (a handful, compiled once); `None` for a pattern the
/// regex crate cannot compile, which then matches everything.
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Python's `re.search(pattern, s)`.
fn regex_match(pattern: &str, s: &str) -> bool {
    let mut cache = PATTERNS.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .as_ref()
        .is_none_or(|re| re.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(schema: &Value, body: &Value) -> String {
        validate(Service::Compute, schema, body)
            .unwrap_err()
            .message
    }

    #[test]
    fn first_error_has_the_services_words() {
        let schema = json!({
            "type": "object",
            "properties": {"server": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 3, "format": "name"},
                    "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                },
                "required": ["name", "flavorRef"],
                "additionalProperties": false,
            }},
            "required": ["server"],
        });
        assert!(validate(
            Service::Compute,
            &schema,
            &json!({"server": {"name": "a", "flavorRef": 1}})
        )
        .is_ok());
        assert_eq!(
            message(&schema, &json!({})),
            "'server' is a required property"
        );
        assert_eq!(
            message(&schema, &json!({"server": {"flavorRef": "1"}})),
            "Invalid input for field/attribute server. Value: {'flavorRef': '1'}. 'name' is a required property"
        );
        assert_eq!(
            message(&schema, &json!({"server": {"name": "a", "flavorRef": {"id": "1"}}})),
            "Invalid input for field/attribute flavorRef. Value: {'id': '1'}. {'id': '1'} is not of type 'string', 'integer'"
        );
        assert_eq!(
            message(
                &schema,
                &json!({"server": {"name": "abcd", "flavorRef": "1"}})
            ),
            "Invalid input for field/attribute name. Value: abcd. 'abcd' is too long"
        );
        assert_eq!(
            message(&schema, &json!({"server": {"name": "", "flavorRef": "1"}})),
            "Invalid input for field/attribute name. Value: . '' should be non-empty"
        );
        assert!(message(
            &schema,
            &json!({"server": {"name": " a", "flavorRef": "1"}})
        )
        .starts_with("An invalid 'name' value was provided."));
        assert!(message(
            &schema,
            &json!({"server": {"name": "a", "flavorRef": "1", "x": 1}})
        )
        .ends_with("Additional properties are not allowed ('x' was unexpected)"));
    }

    #[test]
    fn patterns_enums_numbers_and_arrays() {
        let metadata = json!({
            "type": "object",
            "patternProperties": {"^[a-z]+$": {"type": "string"}},
            "additionalProperties": false,
        });
        assert!(validate(Service::Compute, &metadata, &json!({"k": "v"})).is_ok());
        assert_eq!(
            message(&metadata, &json!({"k": 1})),
            "Invalid input for field/attribute k. Value: 1. 1 is not of type 'string'"
        );
        assert_eq!(
            message(&metadata, &json!({"K": "v"})),
            "'K' does not match any of the regexes: '^[a-z]+$'"
        );
        let policies = json!({"type": "array", "items": {"enum": ["affinity"]}, "uniqueItems": true, "maxItems": 2});
        assert_eq!(
            message(&policies, &json!(["sideways"])),
            "Invalid input for field/attribute 0. Value: sideways. 'sideways' is not one of ['affinity']"
        );
        assert_eq!(
            message(&policies, &json!(["affinity", "affinity"])),
            "['affinity', 'affinity'] has non-unique elements"
        );
        assert_eq!(
            message(&json!({"minimum": 1}), &json!(0)),
            "0 is less than the minimum of 1"
        );
        let port = json!({"oneOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]});
        assert!(validate(Service::Compute, &port, &Value::Null).is_ok());
        assert_eq!(
            message(&port, &json!("x")),
            "'x' is not valid under any of the given schemas"
        );
    }

    #[test]
    fn query_parameters_are_named() {
        let e = validate_query(
            Service::Compute,
            "changes-since",
            &json!({"type": "string", "format": "date-time"}),
            &json!("yesterday"),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'"
        );
        assert!(is_uuid_like("0d9b7c8e-1e4a-4bd0-9b8e-5a3f8c6f9e21"));
        assert!(!is_uuid_like("not-a-uuid"));
    }
}
