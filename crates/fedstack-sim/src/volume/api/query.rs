//! Query strings of Cinder lists: parameters, pagination (`limit`, `marker`, `offset`),
//! sorting, and the `next` link.

use crate::volume::schema::bad;
use fedstack_api_types::ApiError;
use serde_json::{json, Value};
use std::cmp::Ordering;

/// Cinder's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// The decoded `key=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses a raw query string (`+` and `%XX` decoded, invalid UTF-8 replaced).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Params(pairs)
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True when `key` is set to a true-ish value (`strutils.bool_from_string`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "1" | "t" | "true" | "on" | "y" | "yes"
            )
        })
    }

    /// `limit` (default and cap [`MAX_LIMIT`]) with Cinder's messages.
    pub fn limit(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.get("limit") else {
            return Ok(MAX_LIMIT);
        };
        let n: i64 = raw
            .trim()
            .parse()
            .map_err(|_| bad("limit param must be an integer"))?;
        if n < 0 {
            return Err(bad("limit param must be positive"));
        }
        Ok((n as usize).min(MAX_LIMIT))
    }

    /// `offset` (default 0).
    pub fn offset(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.get("offset") else {
            return Ok(0);
        };
        match raw.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n as usize),
            Ok(_) => Err(bad(format!(
                "Invalid input received: offset with value {raw} must be >= 0"
            ))),
            Err(_) => Err(bad(format!(
                "Invalid input received: offset with value {raw} is not an integer"
            ))),
        }
    }

    /// The `next` link of a page whose last record is `last_id`: this query with its
    /// `marker` replaced (or added).
    pub fn next_link(&self, base: &str, last_id: &str) -> Value {
        let mut pairs: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|(k, _)| k != "marker")
            .cloned()
            .collect();
        pairs.push(("marker".into(), last_id.into()));
        let q: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        json!([{"rel": "next", "href": format!("{base}?{}", q.join("&"))}])
    }

    /// The requested sort, from `sort=k1:dir,k2` or `sort_key`/`sort_dir`; `None` for the
    /// default (newest first).
    pub fn sort(&self, valid: &[&str]) -> Result<Option<Vec<(String, bool)>>, ApiError> {
        let spec: Vec<(String, String)> = if let Some(s) = self.get("sort") {
            if self.get("sort_key").is_some() || self.get("sort_dir").is_some() {
                return Err(bad("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter."));
            }
            s.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    let (k, d) = p.split_once(':').unwrap_or((p, "desc"));
                    (k.trim().to_string(), d.trim().to_ascii_lowercase())
                })
                .collect()
        } else if let Some(k) = self.get("sort_key") {
            let d = self.get("sort_dir").unwrap_or("desc").to_ascii_lowercase();
            vec![(k.to_string(), d)]
        } else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(spec.len());
        for (k, d) in spec {
            let asc =
                match d.as_str() {
                    "asc" => true,
                    "desc" => false,
                    _ => return Err(bad(
                        "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'",
                    )),
                };
            let key = if k == "name" {
                "display_name".to_string()
            } else {
                k
            };
            if !valid.contains(&key.as_str()) {
                return Err(bad(format!(
                    "Invalid input received: Invalid sort key {key}"
                )));
            }
            out.push((key, asc));
        }
        Ok(Some(out))
    }
}

/// Compares two records by sort keys, `key_of` giving each key's value.
pub fn compare<T>(
    a: &T,
    b: &T,
    keys: &[(String, bool)],
    key_of: impl Fn(&T, &str) -> SortValue,
) -> Ordering {
    for (k, asc) in keys {
        let o = key_of(a, k).cmp(&key_of(b, k));
        let o = if *asc { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// A sortable value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortValue {
    Null,
    Int(i64),
    Text(String),
}

/// One page of a list: the records after `marker` (by position in the ordered list),
/// after `offset`, at most `limit`.
pub fn page<T>(ordered: Vec<T>, marker_pos: Option<usize>, offset: usize, limit: usize) -> Vec<T> {
    let start = marker_pos.map_or(0, |p| p + 1) + offset;
    ordered.into_iter().skip(start).take(limit).collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `urllib.parse.urlencode` of one key or value (`quote_plus`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reencodes() {
        let p = Params::parse(Some("name=a+b%2Fc&limit=1&marker=x&bad=%zz&tail=%4"));
        assert_eq!(p.get("name"), Some("a b/c"));
        assert_eq!(p.get("bad"), Some("%zz"));
        assert_eq!(p.get("tail"), Some("%4"));
        let link = p.next_link("http://h/v3/volumes", "id-1");
        assert_eq!(
            link[0]["href"],
            "http://h/v3/volumes?name=a+b%2Fc&limit=1&bad=%25zz&tail=%254&marker=id-1"
        );
    }

    #[test]
    fn limits_follow_cinder() {
        assert_eq!(Params::parse(Some("limit=5000")).limit().ok(), Some(1000));
        let e = Params::parse(Some("limit=-1")).limit().unwrap_err();
        assert_eq!(e.message, "limit param must be positive");
        let e = Params::parse(Some("limit=x")).limit().unwrap_err();
        assert_eq!(e.message, "limit param must be an integer");
    }
}
