//! Nova's request validation: the JSON-schema subset Nova's API schemas use, failing on the
//! first error with the message Python's `jsonschema` gives and Nova's wording around it
//! ("Invalid input for field/attribute name. Value: .... 'x' is too long").

use super::bad_request;
use base64::Engine;
use fedstack_api_types::ApiError;
use parking_lot::Mutex;
use regex::Regex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Validates a request body against `schema`.
pub fn validate(schema: &Value, body: &Value) -> Result<(), ApiError> {
    match check(schema, body, None) {
        None => Ok(()),
        Some(f) => Err(bad_request(f.body_message())),
    }
}

/// Validates one query parameter's value, with Nova's query-parameter wording.
pub fn validate_query(name: &str, schema: &Value, value: &Value) -> Result<(), ApiError> {
    match check(schema, value, None) {
        None => Ok(()),
        Some(f) => Err(bad_request(format!(
            "Invalid input for query parameters {name}. Value: {}. {}",
            plain(value),
            f.message
        ))),
    }
}

/// A value as Python's `%s` prints it (strings bare).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// The first validation error: where it happened and what jsonschema says.
struct Failure {
    /// The last element of the path to the failing value, if any.
    field: Option<String>,
    instance: Value,
    message: String,
}

impl Failure {
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
    for (key, arg) in kw {
        let failure = match key.as_str() {
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
        };
        if failure.is_some() {
            return failure;
        }
    }
    None
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
        format!("{} is not of type {}", py_repr(v), names.join(", ")),
    )
}

fn check_enum(arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let options = arg.as_array()?;
    if options.iter().any(|o| o == v) {
        return None;
    }
    fail(
        field,
        v,
        format!("{} is not one of {}", py_repr(v), py_repr(arg)),
    )
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
    kw: &serde_json::Map<String, Value>,
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
    match arg {
        Value::Bool(false) if !patterns.is_empty() => {
            let listed: Vec<String> = extras.iter().map(|k| py_repr(&json!(k))).collect();
            let verb = if extras.len() == 1 { "does" } else { "do" };
            let regexes: Vec<String> = patterns.iter().map(|p| py_repr(&json!(p))).collect();
            fail(
                field,
                v,
                format!(
                    "{} {verb} not match any of the regexes: {}",
                    listed.join(", "),
                    regexes.join(", ")
                ),
            )
        }
        Value::Bool(false) => {
            let listed: Vec<String> = extras.iter().map(|k| py_repr(&json!(k))).collect();
            let verb = if extras.len() == 1 { "was" } else { "were" };
            fail(
                field,
                v,
                format!(
                    "Additional properties are not allowed ({} {verb} unexpected)",
                    listed.join(", ")
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
        "minLength" if len < arg.as_u64()? => {
            if arg.as_u64() == Some(1) {
                format!("{} should be non-empty", py_repr(v))
            } else {
                format!("{} is too short", py_repr(v))
            }
        }
        "maxLength" if len > arg.as_u64()? => format!("{} is too long", py_repr(v)),
        "pattern" if !regex_match(arg.as_str()?, s) => {
            format!("{} does not match {}", py_repr(v), py_repr(arg))
        }
        "format" => return check_format(arg.as_str()?, v, s, field),
        _ => return None,
    };
    fail(field, v, message)
}

fn check_format(format: &str, v: &Value, s: &str, field: Option<&str>) -> Option<Failure> {
    let ok = match format {
        "uuid" => is_uuid_like(s),
        "date-time" => fedstack_api_types::time::parse(s).is_some() && s.contains('T'),
        "base64" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
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
    fail(field, v, format!("{} is not a '{format}'", py_repr(v)))
}

/// Nova's `uuid` format: 32 hex digits, dashes anywhere.
pub fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_number(key: &str, arg: &Value, v: &Value, field: Option<&str>) -> Option<Failure> {
    let n = v.as_f64()?;
    let limit = arg.as_f64()?;
    let message = match key {
        "minimum" if n < limit => format!(
            "{} is less than the minimum of {}",
            py_repr(v),
            py_repr(arg)
        ),
        "maximum" if n > limit => format!(
            "{} is greater than the maximum of {}",
            py_repr(v),
            py_repr(arg)
        ),
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
        "minItems" if n < arg.as_u64()? => {
            if arg.as_u64() == Some(1) {
                format!("{} should be non-empty", py_repr(v))
            } else {
                format!("{} is too short", py_repr(v))
            }
        }
        "maxItems" if n > arg.as_u64()? => format!("{} is too long", py_repr(v)),
        "uniqueItems"
            if arg.as_bool() == Some(true)
                && items
                    .iter()
                    .enumerate()
                    .any(|(i, a)| items[..i].contains(a)) =>
        {
            format!("{} has non-unique elements", py_repr(v))
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
        format!("{} is not valid under any of the given schemas", py_repr(v)),
    )
}

/// Compiled patterns of the schemas (a handful, compiled once).
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Python's `re.search(pattern, s)`.
fn regex_match(pattern: &str, s: &str) -> bool {
    let mut cache = PATTERNS.lock();
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .as_ref()
        .is_none_or(|re| re.is_match(s))
}

/// A JSON value as Python's `repr()` prints the equivalent object.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => py_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Nova's `parameter_types.name`.
pub fn name() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255, "format": "name"})
}

/// Nova's `parameter_types.boolean`: booleans and their usual spellings.
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

/// Nova's `parameter_types.metadata`: string keys and values up to 255 characters.
pub fn metadata() -> Value {
    json!({
        "type": "object",
        "patternProperties": {
            "^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}
        },
        "additionalProperties": false
    })
}

/// Nova's `parameter_types.positive_integer` (an integer or a string of digits, at least 1).
pub fn positive_integer() -> Value {
    json!({"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1})
}

/// An integer from a value that passed [`positive_integer`] (or a similar schema).
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Nova's `parameter_types.tag` (server tags, 2.26+).
pub fn tag() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches() {
        let v = json!({"imageRef": "abc", "n": 1, "ok": true, "none": null, "l": [1.0, "it's"]});
        assert_eq!(
            py_repr(&v),
            "{'imageRef': 'abc', 'n': 1, 'ok': True, 'none': None, 'l': [1.0, \"it's\"]}"
        );
    }

    #[test]
    fn first_error_has_novas_words() {
        let schema = json!({
            "type": "object",
            "properties": {"server": {
                "type": "object",
                "properties": {"name": name(), "flavorRef": {"type": ["string", "integer"], "minLength": 1}},
                "required": ["name", "flavorRef"],
                "additionalProperties": false,
            }},
            "required": ["server"],
        });
        let e = validate(&schema, &json!({"server": {"flavorRef": "1"}})).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for field/attribute server. Value: {'flavorRef': '1'}. 'name' is a required property"
        );
        let e = validate(
            &schema,
            &json!({"server": {"name": "a", "flavorRef": {"id": "1"}}}),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for field/attribute flavorRef. Value: {'id': '1'}. {'id': '1'} is not of type 'string', 'integer'"
        );
        let e = validate(
            &schema,
            &json!({"server": {"name": "a", "flavorRef": "1", "x": 1}}),
        )
        .unwrap_err();
        assert!(e
            .message
            .ends_with("Additional properties are not allowed ('x' was unexpected)"));
        let e = validate_query(
            "changes-since",
            &json!({"type": "string", "format": "date-time"}),
            &json!("yesterday"),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'"
        );
        assert!(validate(&metadata(), &json!({"k": 1})).is_err());
    }
}
