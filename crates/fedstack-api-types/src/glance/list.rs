//! `GET /v2/images`: Glance's filters, visibility rules, sorting, markers and `first`/`next`
//! links, over image records however each side stores them.

use super::respond::{bad_request, forbidden};
use super::{ImageRecord, ImageStatus, MemberStatus, Visibility};
use crate::{time, ApiError};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::cmp::Ordering;

/// Page size when the client gives none (`limit_param_default`).
const DEFAULT_LIMIT: usize = 25;
/// Largest page (`api_limit_max`).
const MAX_LIMIT: usize = 1000;
/// The keys images may be sorted by.
const SORT_KEYS: [&str; 8] = [
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

/// The query string as webob's MultiDict: every (name, value) pair in order.
struct Params(Vec<(String, String)>);

impl Params {
    /// Removes and returns the first value of `name` (MultiDict.pop).
    fn pop(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    /// `dict(params)`: the last value of each name, in first-appearance order.
    fn last_values(&self) -> Vec<(String, String)> {
        let mut d: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.0 {
            match d.iter_mut().find(|(dk, _)| dk == k) {
                Some(slot) => slot.1 = v.clone(),
                None => d.push((k.clone(), v.clone())),
            }
        }
        d
    }
}

/// Which shared images a listing includes, by the caller's membership status.
#[derive(Debug, Clone, Copy)]
enum MemberFilter {
    Only(MemberStatus),
    All,
}

/// A parsed list request.
pub struct ListQuery {
    limit: usize,
    /// The image the page starts after.
    pub marker: Option<String>,
    member_status: MemberFilter,
    tags: Vec<String>,
    sort: Vec<(String, bool)>,
    visibility: Option<String>,
    filters: Vec<Filter>,
    /// The client's parameters, for the links.
    link_params: Vec<(String, String)>,
}

/// One condition on an image.
enum Filter {
    Hidden(bool),
    Protected(bool),
    In(&'static str, Vec<String>),
    Range(String, Ordering, i64),
    Time(&'static str, &'static str, DateTime<Utc>),
    Column(String, String),
    Property(String, String),
}

impl ListQuery {
    /// Reads the query (as (name, value) pairs in order) as Glance's deserializer and
    /// controller do, with their 400s.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<ListQuery, ApiError> {
        let mut p = Params(pairs);
        let link_params = p.last_values();
        let limit = p.pop("limit").map(|l| parse_limit(&l)).transpose()?;
        let marker = p.pop("marker");
        let member_status = match p.pop("member_status").as_deref() {
            None => MemberFilter::Only(MemberStatus::Accepted),
            Some("all") => MemberFilter::All,
            Some(s) => MemberFilter::Only(
                MemberStatus::parse(s)
                    .ok_or_else(|| bad_request(format!("Invalid status: {s}")))?,
            ),
        };
        let mut tags = Vec::new();
        while let Some(t) = p.pop("tag") {
            tags.push(t.trim().to_string());
        }
        let rest = p.last_values();
        let value_of = |name: &str| {
            rest.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let visibility = value_of("visibility");
        if let Some(v) = &visibility {
            if !["community", "public", "private", "shared", "all"].contains(&v.as_str()) {
                return Err(bad_request(format!("Invalid visibility value: {v}")));
            }
        }
        if value_of("changes-since").is_some() {
            return Err(bad_request(
                "The \"changes-since\" filter is no longer available on v2.",
            ));
        }
        let sort = sorting(&mut p)?;
        let filters = filters(p.last_values())?;
        Ok(ListQuery {
            limit: limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
            marker,
            member_status,
            tags,
            sort,
            visibility,
            filters,
            link_params,
        })
    }

    /// Whether the listing includes `i` for `project`: Glance's visibility rules (owned,
    /// public, accepted shares per `member_status`, community only when asked for or owned;
    /// `membership` is the project's status as a member of `i`), then the filters and tags.
    pub fn includes(
        &self,
        i: &ImageRecord,
        project: &str,
        is_admin: bool,
        membership: Option<MemberStatus>,
    ) -> bool {
        if i.status == ImageStatus::Killed {
            return false;
        }
        let a = &i.attrs;
        let shared_with_me = a.visibility == Visibility::Shared
            && membership.is_some_and(|m| match self.member_status {
                MemberFilter::All => true,
                MemberFilter::Only(s) => m == s,
            });
        let reachable = is_admin || i.visible_without_membership(project) || shared_with_me;
        let visibility_ok = match self.visibility.as_deref() {
            Some("all") => true,
            Some(v) => a.visibility.as_str() == v,
            None => a.owner == project || a.visibility != Visibility::Community,
        };
        reachable
            && visibility_ok
            && self.filters.iter().all(|f| f.matches(i))
            && self.tags.iter().all(|t| a.tags.contains(t))
    }

    /// The page of `found` (the included images, any order) after `marker` (the marker's
    /// image, once the caller checked it exists and is visible), with its links.
    pub fn page(&self, mut found: Vec<ImageRecord>, marker: Option<&ImageRecord>) -> Value {
        found.sort_by(|a, b| compare(a, b, &self.sort));
        if let Some(m) = marker {
            found.retain(|i| compare(i, m, &self.sort) == Ordering::Greater);
        }
        found.truncate(self.limit);
        let images: Vec<Value> = found.iter().map(ImageRecord::to_json).collect();
        let mut body =
            json!({"images": images, "first": self.link(None), "schema": "/v2/schemas/images"});
        if let Some(last) = found.last().filter(|_| found.len() == self.limit) {
            body["next"] = self.link(Some(&last.id)).into();
        }
        body
    }

    /// A link to this listing with the client's parameters, and a new marker for `next`.
    fn link(&self, marker: Option<&str>) -> String {
        let mut params: Vec<(&str, &str)> = self
            .link_params
            .iter()
            .filter(|(k, _)| k != "marker")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(m) = marker {
            params.push(("marker", m));
        }
        if params.is_empty() {
            return "/v2/images".to_string();
        }
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
            .collect();
        format!("/v2/images?{}", query.join("&"))
    }
}

/// The error for a `marker` that names no image (`exists` false) or one the caller may not
/// see.
pub fn marker_error(marker: &str, exists: bool) -> ApiError {
    if exists {
        forbidden(format!("Forbidding request, image {marker} not visible"))
    } else {
        bad_request(format!("No image found with ID {marker}"))
    }
}

/// Orders two images by the sort keys (ascending when the flag is true).
fn compare(a: &ImageRecord, b: &ImageRecord, keys: &[(String, bool)]) -> Ordering {
    for (key, asc) in keys {
        let (x, y) = (&a.attrs, &b.attrs);
        let o = match key.as_str() {
            "name" => x.name.cmp(&y.name),
            "status" => a.status.as_str().cmp(b.status.as_str()),
            "container_format" => x.container_format.cmp(&y.container_format),
            "disk_format" => x.disk_format.cmp(&y.disk_format),
            "size" => a.size.cmp(&b.size),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "created_at" => a.created_at.cmp(&b.created_at),
            _ => a.id.cmp(&b.id),
        };
        let o = if *asc { o } else { o.reverse() };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Python's `urllib.parse.quote_plus`.
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn parse_limit(l: &str) -> Result<usize, ApiError> {
    let n: i64 = l
        .trim()
        .parse()
        .map_err(|_| bad_request("limit param must be an integer"))?;
    usize::try_from(n).map_err(|_| bad_request("limit param must be positive"))
}

/// `sort=k:dir,...` or repeated `sort_key`/`sort_dir`, completed with `created_at` and `id`.
fn sorting(p: &mut Params) -> Result<Vec<(String, bool)>, ApiError> {
    let mut keys = Vec::new();
    let mut dirs = Vec::new();
    if let Some(sort) = p.pop("sort") {
        if p.has("sort_key") || p.has("sort_dir") {
            return Err(bad_request("Old and new sorting syntax cannot be combined"));
        }
        for part in sort.trim().split(',') {
            let (key, dir) = part.split_once(':').unwrap_or((part, ""));
            let dir = if dir.is_empty() { "desc" } else { dir };
            keys.push(sort_key(key.trim())?);
            dirs.push(sort_dir(dir.trim())?);
        }
    } else {
        while let Some(k) = p.pop("sort_key") {
            keys.push(sort_key(k.trim())?);
        }
        while let Some(d) = p.pop("sort_dir") {
            dirs.push(sort_dir(d.trim())?);
        }
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
    }
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    let default_asc = match dirs.as_slice() {
        [only] => *only,
        _ => false,
    };
    if dirs.len() <= 1 {
        dirs = vec![default_asc; keys.len()];
    }
    let mut sort: Vec<(String, bool)> = keys.into_iter().zip(dirs).collect();
    for extra in ["created_at", "id"] {
        if !sort.iter().any(|(k, _)| k == extra) {
            sort.push((extra.into(), default_asc));
        }
    }
    Ok(sort)
}

fn sort_key(key: &str) -> Result<String, ApiError> {
    if SORT_KEYS.contains(&key) {
        Ok(key.to_string())
    } else {
        Err(bad_request(format!(
            "Invalid sort key: {key}. It must be one of the following: {}.",
            SORT_KEYS.join(", ")
        )))
    }
}

/// True for `asc`, false for `desc`.
fn sort_dir(dir: &str) -> Result<bool, ApiError> {
    match dir {
        "asc" => Ok(true),
        "desc" => Ok(false),
        _ => Err(bad_request(format!("Invalid sort direction: {dir}"))),
    }
}

/// The filter conditions of the remaining parameters (visibility is applied apart).
fn filters(params: Vec<(String, String)>) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    let os_hidden = params
        .iter()
        .find(|(k, _)| k == "os_hidden")
        .map_or("false".into(), |(_, v)| v.to_lowercase());
    out.push(Filter::Hidden(boolean_filter("os_hidden", &os_hidden)?));
    for (k, v) in params {
        let f = match k.as_str() {
            "os_hidden" | "visibility" | "changes-since" => continue,
            "protected" => Filter::Protected(boolean_filter("protected", &v)?),
            _ if k.ends_with("_min") || k.ends_with("_max") => range(&k, &v)?,
            "created_at" => time_filter("created_at", &v)?,
            "updated_at" => time_filter("updated_at", &v)?,
            "name" => column_in("name", &v)?,
            "id" => column_in("id", &v)?,
            "status" => column_in("status", &v)?,
            "container_format" => column_in("container_format", &v)?,
            "disk_format" => column_in("disk_format", &v)?,
            "owner" | "checksum" | "os_hash_algo" | "os_hash_value" | "min_disk" | "min_ram"
            | "size" | "virtual_size" => Filter::Column(k, v),
            _ => Filter::Property(k, v),
        };
        out.push(f);
    }
    Ok(out)
}

fn boolean_filter(name: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_request(format!(
            "Invalid value '{v}' for '{name}' filter. Valid values are 'true' or 'false'."
        ))),
    }
}

fn range(key: &str, v: &str) -> Result<Filter, ApiError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| bad_request("Unable to filter on a range with a non-numeric value."))?;
    let (attr, bound) = key.split_at(key.len() - 4);
    let ord = if bound == "_min" {
        Ordering::Less
    } else {
        Ordering::Greater
    };
    Ok(Filter::Range(attr.to_string(), ord, n))
}

/// `utils.split_filter_op`: `op:value`, unless the whole expression is a timestamp.
fn split_op(expr: &str) -> (&str, &str) {
    match expr.split_once(':') {
        Some(_) if time::parse(expr).is_some() => ("eq", expr),
        Some((op, v)) => (op, v),
        None => ("eq", expr),
    }
}

fn column_in(column: &'static str, expr: &str) -> Result<Filter, ApiError> {
    match split_op(expr) {
        ("in", list) => Ok(Filter::In(column, split_quoted(list))),
        ("eq", v) => Ok(Filter::In(column, vec![v.to_string()])),
        (op, _) => Err(bad_request(format!(
            "Unable to filter by unknown operator '{op}'."
        ))),
    }
}

/// The values of an `in:` filter: comma-separated, optionally double-quoted.
fn split_quoted(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            out.push(q[..end].to_string());
            rest = q.get(end + 1..).unwrap_or("");
            rest = rest.strip_prefix(',').unwrap_or(rest);
        } else {
            let (v, r) = rest.split_once(',').unwrap_or((rest, ""));
            out.push(v.to_string());
            rest = r;
        }
    }
    out
}

/// `created_at`/`updated_at` with an operator (`gt:2026-01-01T00:00:00Z`).
fn time_filter(column: &'static str, expr: &str) -> Result<Filter, ApiError> {
    let (op, value) = split_op(expr);
    let op = ["gt", "gte", "lt", "lte", "neq", "eq"]
        .into_iter()
        .find(|o| *o == op)
        .ok_or_else(|| bad_request("Unable to filter on a unknown operator."))?;
    let t = time::parse(value).ok_or_else(|| {
        bad_request(format!(
            "Bad \"{column}\" query filter format. Use ISO 8601 DateTime notation."
        ))
    })?;
    Ok(Filter::Time(column, op, t))
}

impl Filter {
    fn matches(&self, i: &ImageRecord) -> bool {
        match self {
            Filter::Hidden(h) => i.attrs.os_hidden == *h,
            Filter::Protected(p) => i.attrs.protected == *p,
            Filter::In(column, values) => {
                column_value(i, column).is_some_and(|v| values.contains(&v))
            }
            Filter::Range(attr, ord, n) => column_value(i, attr)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v.cmp(n) != *ord),
            Filter::Time(column, op, t) => {
                let v = if *column == "created_at" {
                    i.created_at
                } else {
                    i.updated_at
                };
                match *op {
                    "gt" => v > *t,
                    "gte" => v >= *t,
                    "lt" => v < *t,
                    "lte" => v <= *t,
                    "neq" => v != *t,
                    _ => v == *t,
                }
            }
            Filter::Column(column, value) => column_value(i, column).as_deref() == Some(value),
            Filter::Property(k, value) => {
                i.attrs.properties.get(k).and_then(|v| v.as_str()) == Some(value)
            }
        }
    }
}

/// A core attribute as the database would compare it (`None` for NULL).
fn column_value(i: &ImageRecord, column: &str) -> Option<String> {
    let d = i.stored.as_ref();
    let a = &i.attrs;
    match column {
        "name" => a.name.clone(),
        "id" => Some(i.id.clone()),
        "status" => Some(i.status.as_str().into()),
        "container_format" => a.container_format.clone(),
        "disk_format" => a.disk_format.clone(),
        "owner" => Some(a.owner.clone()),
        "checksum" => d.map(|d| d.md5.clone()),
        "os_hash_algo" => d.map(|_| "sha512".into()),
        "os_hash_value" => d.map(|d| d.sha512.clone()),
        "min_disk" => Some(a.min_disk.to_string()),
        "min_ram" => Some(a.min_ram.to_string()),
        "size" => i.size.map(|s| s.to_string()),
        "virtual_size" => d.and(i.virtual_size).map(|v| v.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glance::Attrs;

    fn image(id: &str, name: &str, owner: &str, visibility: Visibility) -> ImageRecord {
        let t = Utc::now();
        ImageRecord {
            id: id.into(),
            status: ImageStatus::Active,
            attrs: Attrs {
                name: Some(name.into()),
                owner: owner.into(),
                visibility,
                ..Attrs::default()
            },
            size: None,
            stored: None,
            virtual_size: None,
            created_at: t,
            updated_at: t,
        }
    }

    fn q(query: &[(&str, &str)]) -> Result<ListQuery, ApiError> {
        ListQuery::parse(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn visibility_filters_and_pages() {
        let all = [
            image("a", "one", "p1", Visibility::Private),
            image("b", "two", "p2", Visibility::Private),
            image("c", "three", "p2", Visibility::Public),
            image("d", "four", "p2", Visibility::Community),
            image("e", "five", "p2", Visibility::Shared),
        ];
        let ids = |q: &ListQuery, member: Option<MemberStatus>| -> Vec<String> {
            let found: Vec<ImageRecord> = all
                .iter()
                .filter(|i| q.includes(i, "p1", false, member))
                .cloned()
                .collect();
            q.page(found, None)["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string())
                .collect()
        };
        let sorted = q(&[("sort", "name:asc")]).unwrap();
        assert_eq!(ids(&sorted, None), ["a", "c"]);
        assert_eq!(ids(&sorted, Some(MemberStatus::Accepted)), ["e", "a", "c"]);
        assert_eq!(
            ids(&q(&[("visibility", "community")]).unwrap(), None),
            ["d"]
        );
        assert_eq!(
            ids(&q(&[("name", "in:one,\"three\"")]).unwrap(), None).len(),
            2
        );
        let page = q(&[("limit", "1"), ("sort_key", "name")]).unwrap();
        let body = page.page(all[..3].to_vec(), None);
        assert_eq!(body["first"], "/v2/images?limit=1&sort_key=name");
        assert_eq!(body["next"], "/v2/images?limit=1&sort_key=name&marker=b");
        let after = page.page(all[..3].to_vec(), Some(&all[1]));
        assert_eq!(after["images"][0]["id"], "c");
    }

    #[test]
    fn bad_queries_are_glance_400s() {
        let e = |query: &[(&str, &str)]| q(query).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(e(&[("limit", "x")]), "limit param must be an integer");
        assert_eq!(e(&[("visibility", "x")]), "Invalid visibility value: x");
        assert_eq!(e(&[("sort_dir", "up")]), "Invalid sort direction: up");
        assert_eq!(
            e(&[("sort", "name"), ("sort_key", "id")]),
            "Old and new sorting syntax cannot be combined"
        );
        assert!(e(&[("sort_key", "owner")]).starts_with("Invalid sort key: owner."));
    }
}
