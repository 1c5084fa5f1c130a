//! Neutron list queries: filters on any attribute (`?network_id=`, `?router:external=true`,
//! `?fixed_ips=ip_address=...`, `?tags=`...), `fields=`, sorting, and native pagination
//! (`limit`, `marker`, `page_reverse`) with `<collection>_links`.

use super::bad_request;
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// Tag filters every taggable resource accepts.
const TAG_FILTERS: [&str; 4] = ["tags", "tags-any", "not-tags", "not-tags-any"];

/// A parsed list query.
#[derive(Debug, Default)]
pub struct ListQuery {
    fields: Vec<String>,
    limit: Option<usize>,
    marker: Option<String>,
    page_reverse: bool,
    /// (key, ascending)
    sort: Vec<(String, bool)>,
    /// Values of one key are alternatives; keys must all match.
    filters: Vec<(String, Vec<String>)>,
    /// The query as sent, for pagination links.
    raw: Vec<(String, String)>,
}

fn truthy(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

impl ListQuery {
    /// Parses the query of a list of a resource whose attributes are `attrs`.
    pub fn parse(pairs: Vec<(String, String)>, attrs: &[&str]) -> Result<Self, ApiError> {
        let mut q = ListQuery {
            raw: pairs.clone(),
            ..ListQuery::default()
        };
        let mut sort_keys = vec![];
        let mut sort_dirs = vec![];
        for (k, v) in pairs {
            match k.as_str() {
                "fields" => q.fields.push(v),
                "limit" => q.limit = parse_limit(&v)?,
                "marker" => q.marker = Some(v),
                "page_reverse" => q.page_reverse = truthy(&v).unwrap_or(false),
                "sort_key" => sort_keys.push(v),
                "sort_dir" => sort_dirs.push(v),
                _ if attrs.contains(&k.as_str())
                    || TAG_FILTERS.contains(&k.as_str())
                    || k == "tenant_id"
                    || k == "project_id" =>
                {
                    match q.filters.iter_mut().find(|(key, _)| *key == k) {
                        Some((_, vals)) => vals.push(v),
                        None => q.filters.push((k, vec![v])),
                    }
                }
                _ => {
                    return Err(bad_request(format!(
                        "[{k}] is invalid attribute for filtering"
                    )))
                }
            }
        }
        q.sort = sort_spec(sort_keys, sort_dirs, attrs)?;
        Ok(q)
    }

    /// The values asked for one attribute (for index lookups).
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.filters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// True when `item` (a rendered resource) passes every filter.
    pub fn matches(&self, item: &Value) -> bool {
        self.filters.iter().all(|(k, vals)| match k.as_str() {
            "tags" | "tags-any" | "not-tags" | "not-tags-any" => tags_match(k, vals, item),
            "fixed_ips" => vals.iter().any(|v| fixed_ip_matches(v, item)),
            _ => item
                .get(k)
                .is_some_and(|a| vals.iter().any(|v| value_matches(a, v))),
        })
    }

    /// Reduces a rendered resource to the requested `fields`.
    fn select(&self, item: Value) -> Value {
        if self.fields.is_empty() {
            return item;
        }
        match item {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(k, _)| self.fields.contains(k))
                    .collect(),
            ),
            other => other,
        }
    }

    /// One page of a collection. `ids` are the candidate IDs in ascending order; `render`
    /// gives the resource as the caller sees it (`None`: invisible). Returns the body
    /// `{collection: [...], collection_links: [...]}` with links under `base_url`.
    pub fn answer<'a, K: AsRef<str> + 'a>(
        &self,
        collection: &str,
        base_url: &str,
        ids: impl DoubleEndedIterator<Item = &'a K>,
        mut render: impl FnMut(&str) -> Option<Value>,
    ) -> Value {
        let mut matching = |id: &K| render(id.as_ref()).filter(|v| self.matches(v));
        let page: Vec<(String, Value)> = if !self.sort.is_empty() {
            let mut all: Vec<(String, Value)> = ids
                .filter_map(|id| matching(id).map(|v| (id.as_ref().to_string(), v)))
                .collect();
            all.sort_by(|a, b| self.compare(&a.1, &b.1).then_with(|| a.0.cmp(&b.0)));
            self.window(all)
        } else if self.page_reverse {
            let marker = self.marker.clone();
            let mut page: Vec<(String, Value)> = ids
                .rev()
                .skip_while(|id| marker.as_ref().is_some_and(|m| id.as_ref() >= m.as_str()))
                .filter_map(|id| matching(id).map(|v| (id.as_ref().to_string(), v)))
                .take(self.limit.unwrap_or(usize::MAX))
                .collect();
            page.reverse();
            page
        } else {
            let marker = self.marker.clone();
            ids.skip_while(|id| marker.as_ref().is_some_and(|m| id.as_ref() <= m.as_str()))
                .filter_map(|id| matching(id).map(|v| (id.as_ref().to_string(), v)))
                .take(self.limit.unwrap_or(usize::MAX))
                .collect()
        };
        let links = self.links(base_url, &page);
        let mut body = Map::new();
        body.insert(
            collection.to_string(),
            Value::Array(page.into_iter().map(|(_, v)| self.select(v)).collect()),
        );
        if !links.is_empty() {
            body.insert(format!("{collection}_links"), Value::Array(links));
        }
        Value::Object(body)
    }

    /// The page of a sorted collection after (or, reversed, before) the marker.
    fn window(&self, all: Vec<(String, Value)>) -> Vec<(String, Value)> {
        let limit = self.limit.unwrap_or(usize::MAX);
        let pos = self
            .marker
            .as_ref()
            .and_then(|m| all.iter().position(|(id, _)| id == m));
        if self.page_reverse {
            let end = pos.unwrap_or(all.len());
            let start = end.saturating_sub(limit);
            all.into_iter().skip(start).take(end - start).collect()
        } else {
            let start = pos.map_or(0, |p| p + 1);
            all.into_iter().skip(start).take(limit).collect()
        }
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        self.sort
            .iter()
            .map(|(k, asc)| {
                let o = cmp_values(a.get(k), b.get(k));
                if *asc {
                    o
                } else {
                    o.reverse()
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }

    /// Neutron's `next`/`previous` links: `next` unless a short forward page, `previous`
    /// unless a short reversed page.
    fn links(&self, base_url: &str, page: &[(String, Value)]) -> Vec<Value> {
        let Some(limit) = self.limit else {
            return vec![];
        };
        let short = page.len() < limit;
        let mut links = vec![];
        if !short || self.page_reverse {
            if let Some((last, _)) = page.last() {
                links.push(json!({"rel": "next", "href": self.href(base_url, last, false)}));
            }
        }
        if !(short && self.page_reverse) {
            if let Some((first, _)) = page.first() {
                links.push(json!({"rel": "previous", "href": self.href(base_url, first, true)}));
            }
        }
        links
    }

    fn href(&self, base_url: &str, marker: &str, reverse: bool) -> String {
        let mut parts: Vec<String> = self
            .raw
            .iter()
            .filter(|(k, _)| k != "marker" && k != "page_reverse")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        parts.push(format!("marker={}", encode(marker)));
        if reverse {
            parts.push("page_reverse=True".to_string());
        }
        format!("{base_url}?{}", parts.join("&"))
    }
}

fn parse_limit(v: &str) -> Result<Option<usize>, ApiError> {
    match v.parse::<i64>() {
        Ok(0) => Ok(None),
        Ok(n) if n > 0 => Ok(Some(n as usize)),
        _ => Err(bad_request(format!(
            "Limit must be an integer 0 or greater and not '{v}'"
        ))),
    }
}

fn sort_spec(
    keys: Vec<String>,
    dirs: Vec<String>,
    attrs: &[&str],
) -> Result<Vec<(String, bool)>, ApiError> {
    if keys.len() != dirs.len() && !dirs.is_empty() {
        return Err(bad_request(
            "The number of sort_keys and sort_dirs must be same",
        ));
    }
    keys.into_iter()
        .enumerate()
        .map(|(i, k)| {
            if !attrs.contains(&k.as_str()) {
                return Err(bad_request(format!(
                    "{k} is an invalid attribute for sort_keys"
                )));
            }
            match dirs.get(i).map(String::as_str).unwrap_or("asc") {
                "asc" => Ok((k, true)),
                "desc" => Ok((k, false)),
                d => Err(bad_request(format!(
                    "{d} is an invalid value for sort_dirs, valid values are: ['asc', 'desc']"
                ))),
            }
        })
        .collect()
}

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Null) | None, Some(Value::Null) | None) => Ordering::Equal,
        (Some(Value::Null) | None, _) => Ordering::Less,
        (_, Some(Value::Null) | None) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// True when one attribute value matches one filter value (as Neutron converts filters).
fn value_matches(attr: &Value, want: &str) -> bool {
    match attr {
        Value::String(s) => s == want,
        Value::Bool(b) => truthy(want) == Some(*b),
        Value::Number(n) => n.to_string() == want,
        Value::Array(items) => items.iter().any(|i| value_matches(i, want)),
        Value::Null => want.is_empty() || want == "None",
        Value::Object(_) => false,
    }
}

/// `fixed_ips=ip_address=10.0.0.5`, `fixed_ips=subnet_id=...`, `ip_address_substr=...`.
fn fixed_ip_matches(filter: &str, item: &Value) -> bool {
    let Some((key, want)) = filter.split_once('=') else {
        return false;
    };
    let entries = item
        .get("fixed_ips")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    entries.iter().any(|e| match key {
        "ip_address_substr" => e
            .get("ip_address")
            .and_then(Value::as_str)
            .is_some_and(|ip| ip.contains(want)),
        _ => e.get(key).and_then(Value::as_str) == Some(want),
    })
}

fn tags_match(kind: &str, vals: &[String], item: &Value) -> bool {
    let have: Vec<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let wanted: Vec<&str> = vals.iter().flat_map(|v| v.split(',')).collect();
    let all = wanted.iter().all(|t| have.contains(t));
    let any = wanted.iter().any(|t| have.contains(t));
    match kind {
        "tags" => all,
        "tags-any" => any,
        "not-tags" => !all,
        _ => !any,
    }
}

/// Percent-encodes a query component (unreserved characters kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
