//! Request bodies checked as Neutron's API layer does: the resource key, unknown and
//! read-only attributes, and each attribute's type, with Neutron's messages.

use super::{bad_request, invalid_input};
use fedstack_api_types::ApiError;
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Longest `name`/`description` Neutron accepts.
const MAX_NAME: usize = 255;

/// The attributes of one resource in a request: `{"network": {...}}`.
pub struct Attrs<'a> {
    map: &'a Map<String, Value>,
}

/// Python's `repr`-like rendering Neutron's messages use for a value.
pub fn py(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// `Invalid input for <attr>. Reason: <reason>.`
pub fn invalid_attr(attr: &str, reason: impl std::fmt::Display) -> ApiError {
    bad_request(format!("Invalid input for {attr}. Reason: {reason}."))
}

impl<'a> Attrs<'a> {
    /// The object under `key` of a request body.
    pub fn of(body: &'a Value, key: &str) -> Result<Self, ApiError> {
        match body.get(key) {
            Some(Value::Object(map)) => Ok(Attrs { map }),
            Some(_) => Err(bad_request("Body contains invalid data")),
            None => Err(bad_request(format!(
                "Unable to find '{key}' in request body"
            ))),
        }
    }

    /// Rejects attributes the resource does not have, then (for POST) those set by the
    /// server, or (for PUT) read-only ones.
    pub fn check(&self, known: &[&str], writable: &[&str], post: bool) -> Result<(), ApiError> {
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(bad_request(format!(
                "Unrecognized attribute(s) '{}'",
                unknown.join(", ")
            )));
        }
        match self.map.keys().find(|k| !writable.contains(&k.as_str())) {
            Some(k) if post => Err(bad_request(format!("Attribute '{k}' not allowed in POST"))),
            Some(k) => Err(bad_request(format!(
                "Cannot update read-only attribute {k}"
            ))),
            None => Ok(()),
        }
    }

    /// True when the attribute was sent.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The raw value of an attribute.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// A string attribute (names and descriptions up to 255 characters).
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() > MAX_NAME => Err(invalid_attr(
                key,
                format!("'{s}' exceeds maximum length of {MAX_NAME}"),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(invalid_attr(
                key,
                format!("'{}' is not a valid string", py(v)),
            )),
        }
    }

    /// A string attribute that may be `null`.
    pub fn nullable_string(&self, key: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.map.get(key) {
            Some(Value::Null) => Ok(Some(None)),
            _ => self.string(key).map(|s| s.map(Some)),
        }
    }

    /// A boolean attribute (Neutron also converts "true"/"false" strings and 0/1).
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let Some(v) = self.map.get(key) else {
            return Ok(None);
        };
        let b = match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        b.map(Some)
            .ok_or_else(|| invalid_input(format!("'{}' cannot be converted to boolean", py(v))))
    }

    /// An integer attribute.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
            Some(v) => Err(invalid_input(format!("'{}' is not an integer", py(v)))),
        }
    }

    /// A list of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        invalid_attr(key, format!("'{}' is not a valid string", py(i)))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(invalid_attr(key, format!("'{}' is not a list", py(v)))),
        }
    }

    /// An IP address attribute (`null` allowed when `nullable`).
    pub fn ip(&self, key: &str) -> Result<Option<Option<IpAddr>>, ApiError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => parse_ip(key, v).map(|ip| Some(Some(ip))),
        }
    }
}

/// An IP address value, with Neutron's message.
pub fn parse_ip(key: &str, v: &Value) -> Result<IpAddr, ApiError> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid_attr(key, format!("'{}' is not a valid IP address", py(v))))
}

/// A CIDR value in canonical form (`192.168.0.0/24`), with Neutron's message.
pub fn parse_cidr(v: &Value) -> Result<IpNet, ApiError> {
    let s = py(v);
    let net: IpNet = s
        .parse()
        .map_err(|_| invalid_input(format!("{s} is not in a CIDR format.")))?;
    if net.trunc() != net {
        return Err(invalid_input(format!(
            "'{s}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        )));
    }
    Ok(net)
}
