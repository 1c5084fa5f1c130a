//! Request body checks with the messages Cinder's JSON-schema validation produces
//! (`Invalid input for field/attribute size. Value: big. 'big' does not match '^[0-9]+$'`).

use fedstack_api_types::{ApiError, Service};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Cinder's `DB_MAX_INT`, the largest size it accepts.
pub const DB_MAX_INT: u64 = 0x7FFF_FFFF;

/// A 400 in Cinder's envelope.
pub fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Service::Volume, msg)
}

/// Python's `str()` of a JSON value, as Cinder prints `Value: ...`.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value, as jsonschema prints it in messages.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `Invalid input for field/attribute <field>. Value: <value>. <message>`
pub fn field_error(field: &str, value: &Value, message: &str) -> ApiError {
    bad(format!(
        "Invalid input for field/attribute {field}. Value: {}. {message}",
        py_str(value)
    ))
}

/// The JSON-schema "not of type" message.
pub fn type_error(field: &str, value: &Value, types: &str) -> ApiError {
    field_error(
        field,
        value,
        &format!("{} is not of type {types}", py_repr(value)),
    )
}

/// The object under `key` of a body (`{"volume": {...}}`), or Cinder's message when absent.
pub fn wrapper<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    match body.get(key) {
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(type_error(key, other, "'object'")),
        None => Err(bad(format!("'{key}' is a required property"))),
    }
}

/// A size in GiB (`volume_size`: an integer or digit string, 1..=DB_MAX_INT); `None` when
/// absent or null.
pub fn size(field: &str, v: Option<&Value>) -> Result<Option<u64>, ApiError> {
    let n = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64().unwrap_or(i64::MAX),
        Some(s @ Value::String(text)) => {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                let msg = format!("{} does not match '^[0-9]+$'", py_repr(s));
                return Err(field_error(field, s, &msg));
            }
            text.parse::<i64>().unwrap_or(i64::MAX)
        }
        Some(other) => return Err(type_error(field, other, "'integer', 'string', 'null'")),
    };
    let value = v.cloned().unwrap_or(Value::Null);
    if n < 1 {
        let msg = format!("{n} is less than the minimum of 1");
        return Err(field_error(field, &value, &msg));
    }
    if n as u64 > DB_MAX_INT {
        let msg = format!("{n} is greater than the maximum of {DB_MAX_INT}");
        return Err(field_error(field, &value, &msg));
    }
    Ok(Some(n as u64))
}

/// An optional string field (string or null).
pub fn opt_string(o: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > 255 => Err(field_error(
            field,
            &Value::String(s.clone()),
            &format!("'{s}' is too long"),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(type_error(field, other, "'string', 'null'")),
    }
}

/// A name or description: trimmed of surrounding whitespace, as Cinder does.
pub fn opt_text(o: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    Ok(opt_string(o, field)?.map(|s| s.trim().to_string()))
}

/// A metadata object of string keys (1..=255 characters) and string values (at most 255).
pub fn metadata(field: &str, v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let o = match v {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(type_error(field, other, "'object'")),
    };
    let mut out = BTreeMap::new();
    for (k, v) in o {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(bad(format!(
                "Invalid input for field/attribute {field}. Value: {}. Additional properties are not allowed ('{k}' was unexpected)",
                py_str(&Value::Object(o.clone()))
            )));
        }
        match v {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), s.clone());
            }
            Value::String(s) => {
                return Err(field_error(k, v, &format!("'{s}' is too long")));
            }
            other => return Err(type_error(k, other, "'string'")),
        }
    }
    Ok(out)
}

/// A boolean as Cinder's `strutils.bool_from_string(strict=True)` reads it.
pub fn strict_bool(v: &Value) -> Result<bool, ApiError> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| {
        bad(format!(
            "Unrecognized value '{}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'",
            py_str(v)
        ))
    })
}
