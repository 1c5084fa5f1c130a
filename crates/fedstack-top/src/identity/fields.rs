//! Request bodies read with Keystone's validation messages: its JSON schema errors print the
//! field, the value as Python shows it, and jsonschema's own sentence.

use super::err;
use axum::http::StatusCode;
use fedstack_api_types::pyrepr::repr;
use fedstack_api_types::ApiError;
use serde_json::{Map, Value};

/// A JSON object of a request body.
pub type Object = Map<String, Value>;

/// The strings Keystone's `boolean` parameter type accepts, with their meaning.
const BOOLEAN_STRINGS: [(&str, bool); 19] = [
    ("True", true),
    ("TRUE", true),
    ("true", true),
    ("False", false),
    ("FALSE", false),
    ("false", false),
    ("", false),
    ("1", true),
    ("0", false),
    ("y", true),
    ("Y", true),
    ("n", false),
    ("N", false),
    ("on", true),
    ("ON", true),
    ("off", false),
    ("OFF", false),
    ("yes", true),
    ("no", false),
];

fn bad(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

/// A boolean string as Keystone's `boolean` type reads it.
pub fn parse_bool(s: &str) -> Option<bool> {
    BOOLEAN_STRINGS
        .iter()
        .find(|(k, _)| *k == s)
        .map(|(_, b)| *b)
}

/// Python's `str` of a JSON value (strings unquoted).
fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// Keystone's 400 for a value its schema refuses.
fn invalid(field: &str, value: &Value, problem: &str) -> ApiError {
    bad(format!(
        "Invalid input for field/attribute {field}. Value: {}. {problem}",
        display(value)
    ))
}

fn wrong_type(field: &str, value: &Value, types: &str) -> ApiError {
    invalid(
        field,
        value,
        &format!("{} is not of type {types}", repr(value)),
    )
}

/// jsonschema's message for a missing property.
pub fn required(key: &str) -> ApiError {
    bad(format!("'{key}' is a required property"))
}

/// The object under `key` of a body (`{"project": {...}}`).
pub fn entity<'a>(body: &'a Value, key: &str) -> Result<&'a Object, ApiError> {
    match body.get(key) {
        None => Err(required(key)),
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(wrong_type(key, other, "'object'")),
    }
}

/// An optional string that may also be null.
pub fn opt_str<'a>(o: &'a Object, key: &str) -> Result<Option<&'a str>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(key, other, "'string', 'null'")),
    }
}

/// A nullable string of a PATCH: absent (`None`), null (`Some(None)`) or a string.
pub fn patch_str(o: &Object, key: &str) -> Result<Option<Option<String>>, ApiError> {
    if !o.contains_key(key) {
        return Ok(None);
    }
    Ok(Some(opt_str(o, key)?.map(String::from)))
}

/// A string that must be there and not be empty.
pub fn required_str<'a>(o: &'a Object, key: &str) -> Result<&'a str, ApiError> {
    opt_name(o, key)?.ok_or_else(|| required(key))
}

/// A name: absent, or a non-empty string.
pub fn opt_name<'a>(o: &'a Object, key: &str) -> Result<Option<&'a str>, ApiError> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(invalid(
            key,
            &Value::String(String::new()),
            "'' should be non-empty",
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(key, other, "'string'")),
    }
}

/// A boolean as Keystone's `boolean` type reads it (JSON booleans and their usual strings).
pub fn opt_bool(o: &Object, key: &str) -> Result<Option<bool>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => parse_bool(s).map(Some).ok_or_else(|| {
            invalid(
                key,
                v,
                &format!(
                    "{} is not one of [True, 'True', 'TRUE', 'true', False, 'False', \
                         'FALSE', 'false', '', '1', '0', 'y', 'Y', 'n', 'N', 'on', 'ON', 'off', \
                         'OFF', 'yes', 'no']",
                    repr(v)
                ),
            )
        }),
        Some(other) => Err(wrong_type(key, other, "'boolean', 'string', 'null'")),
    }
}

/// An optional list of strings (project tags).
pub fn opt_strings(o: &Object, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    let items = match o.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type(key, other, "'array'")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s.clone()),
            other => Err(wrong_type(&i.to_string(), other, "'string'")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// An optional array of objects (application credential roles).
pub fn opt_objects<'a>(o: &'a Object, key: &str) -> Result<Option<Vec<&'a Object>>, ApiError> {
    let items = match o.get(key) {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type(key, other, "'array'")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(obj) => Ok(obj),
            other => Err(wrong_type(&i.to_string(), other, "'object'")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn messages_print_values_as_python_does() {
        let o = obj(json!({"name": 5, "enabled": "maybe", "tags": ["a", 1], "d": ["it's"]}));
        assert_eq!(
            required_str(&o, "name").unwrap_err().message,
            "Invalid input for field/attribute name. Value: 5. 5 is not of type 'string'"
        );
        assert!(opt_bool(&o, "enabled").unwrap_err().message.starts_with(
            "Invalid input for field/attribute enabled. Value: maybe. 'maybe' is not one of [True,"
        ));
        assert_eq!(
            opt_strings(&o, "tags").unwrap_err().message,
            "Invalid input for field/attribute 1. Value: 1. 1 is not of type 'string'"
        );
        assert_eq!(repr(&o["d"]), "[\"it's\"]");
        assert_eq!(
            required_str(&o, "other").unwrap_err().message,
            "'other' is a required property"
        );
    }

    #[test]
    fn booleans_accept_keystone_strings() {
        let o = obj(json!({"a": "false", "b": true, "c": null, "d": 1}));
        assert_eq!(opt_bool(&o, "a").unwrap(), Some(false));
        assert_eq!(opt_bool(&o, "b").unwrap(), Some(true));
        assert_eq!(opt_bool(&o, "c").unwrap(), None);
        assert_eq!(
            opt_bool(&o, "d").unwrap_err().message,
            "Invalid input for field/attribute d. Value: 1. 1 is not of type 'boolean', 'string', 'null'"
        );
    }
}
