//! What every top Neutron resource shares: its stored document, standard attributes,
//! visibility, request bodies and list answers (filters and `fields`).

use super::{bad_request, store_err};
use crate::auth::Caller;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fedstack_api_types::time;
use fedstack_api_types::ApiError;
use fedstack_store::networks::NetResource;
use fedstack_store::now_ms;
use serde_json::{json, Map, Value};

/// Neutron's timestamp format (`2026-01-02T03:04:05Z`).
fn stamp(ms: i64) -> String {
    time::iso_z(chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default())
}

/// A new resource of `kind` for `project`, with Neutron's standard attributes around `attrs`.
pub fn new_resource(
    kind: &str,
    project: &str,
    parent: Option<&str>,
    mut attrs: Map<String, Value>,
) -> NetResource {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let name = attrs
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    attrs.insert("id".into(), json!(id));
    attrs.insert("name".into(), json!(name));
    attrs.insert("tenant_id".into(), json!(project));
    attrs.insert("project_id".into(), json!(project));
    attrs.entry("description").or_insert(json!(""));
    attrs.entry("tags").or_insert(json!([]));
    attrs.insert("created_at".into(), json!(stamp(now)));
    attrs.insert("updated_at".into(), json!(stamp(now)));
    attrs.insert("revision_number".into(), json!(0));
    NetResource {
        kind: kind.into(),
        id,
        project_id: project.into(),
        parent_id: parent.map(String::from),
        name,
        body: Value::Object(attrs),
        created_at: now,
        updated_at: now,
    }
}

/// Applies `changes` to a resource: a new revision and `updated_at`.
pub fn apply(r: &mut NetResource, changes: &Map<String, Value>) {
    let now = now_ms();
    if let Some(body) = r.body.as_object_mut() {
        for (k, v) in changes {
            body.insert(k.clone(), v.clone());
        }
        let rev = body
            .get("revision_number")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        body.insert("revision_number".into(), json!(rev + 1));
        body.insert("updated_at".into(), json!(stamp(now)));
    }
    r.name = r.body["name"].as_str().unwrap_or_default().to_string();
    r.updated_at = now;
}

/// True when the caller may see a resource: its project's, an admin's, or shared.
pub fn visible(c: &Caller, r: &NetResource) -> bool {
    c.is_admin()
        || r.project_id == c.project_id()
        || r.body["shared"] == true
        || r.body["router:external"] == true
}

/// True when the caller may change a resource.
pub fn owns(c: &Caller, r: &NetResource) -> bool {
    c.is_admin() || r.project_id == c.project_id()
}

/// A stored resource the caller may see, or `not_found`.
pub async fn find(
    c: &Caller,
    kind: &str,
    id: &str,
    not_found: impl FnOnce() -> ApiError,
) -> Result<NetResource, ApiError> {
    c.top
        .store
        .net_resource(kind, id)
        .await
        .map_err(store_err)?
        .filter(|r| visible(c, r))
        .ok_or_else(not_found)
}

/// The object under `key` of a request body ("Unable to find 'network' in request body").
pub fn attrs(body: &Value, key: &str) -> Result<Map<String, Value>, ApiError> {
    match body.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(bad_request(format!(
            "Invalid input for {key}. Reason: not a dict."
        ))),
        None => Err(bad_request(format!(
            "Unable to find '{key}' in request body"
        ))),
    }
}

/// Refuses attributes outside `allowed` ("Unrecognized attribute(s) 'x'").
pub fn check_known(a: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<&str> = a
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            unknown.join(", ")
        )))
    }
}

/// The project a new resource belongs to: the caller's, or one an admin names.
pub fn target_project(c: &Caller, a: &Map<String, Value>) -> Result<String, ApiError> {
    let given = a
        .get("project_id")
        .or_else(|| a.get("tenant_id"))
        .and_then(Value::as_str);
    match given {
        Some(p) if p != c.project_id() && !c.is_admin() => Err(bad_request(
            "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request is not allowed for current user.",
        )),
        Some(p) => Ok(p.to_string()),
        None => Ok(c.project_id().to_string()),
    }
}

/// A value as a query filter compares it (`True`/`False` for booleans).
fn filter_text(v: &Value) -> Vec<String> {
    match v {
        Value::Bool(b) => vec![if *b { "True".into() } else { "False".into() }],
        Value::String(s) => vec![s.clone()],
        Value::Null => vec![String::new()],
        Value::Array(items) => items.iter().flat_map(filter_text).collect(),
        other => vec![other.to_string()],
    }
}

/// Query parameters that are not filters.
const NOT_FILTERS: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
    "all_tenants",
];

/// True when `item` passes every filter of `pairs` (a repeated key means any of its values).
pub fn matches(item: &Value, pairs: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter().filter(|k| !NOT_FILTERS.contains(k)).all(|k| {
        let field = match *k {
            "tenant_id" => "project_id",
            other => other,
        };
        let Some(have) = item.get(field) else {
            return true;
        };
        let have = filter_text(have);
        pairs.iter().filter(|(pk, _)| pk == k).any(|(_, want)| {
            have.iter().any(|h| {
                h == want || h.eq_ignore_ascii_case(want) && (want == "true" || want == "false")
            })
        })
    })
}

/// A document reduced to `?fields=`, if any.
pub fn with_fields(item: Value, pairs: &[(String, String)]) -> Value {
    let fields: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    match item {
        Value::Object(m) if !fields.is_empty() => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

/// `{"<collection>": [...]}` of the visible, matching documents.
pub fn list_answer(
    c: &Caller,
    collection: &str,
    items: Vec<NetResource>,
    pairs: &[(String, String)],
    view: impl Fn(&NetResource) -> Value,
) -> Response {
    let out: Vec<Value> = items
        .iter()
        .filter(|r| visible(c, r))
        .map(view)
        .filter(|v| matches(v, pairs))
        .map(|v| with_fields(v, pairs))
        .collect();
    Json(json!({ collection: out })).into_response()
}

/// A string attribute, or a 400 naming it.
pub fn string_attr(a: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match a.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad_request(format!(
            "Invalid input for {key}. Reason: '{other}' is not a valid string."
        ))),
    }
}

/// A boolean attribute (Neutron also takes "true"/"false" strings), or a 400 naming it.
pub fn bool_attr(a: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match a.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(bad_request(format!(
            "Invalid input for {key}. Reason: '{other}' is not a valid boolean value."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_compare_like_neutron() {
        let net = json!({"name": "a", "router:external": true, "project_id": "p", "subnets": ["s1", "s2"]});
        assert!(matches(&net, &pairs(&[("router:external", "True")])));
        assert!(matches(&net, &pairs(&[("router:external", "true")])));
        assert!(!matches(&net, &pairs(&[("router:external", "False")])));
        assert!(matches(&net, &pairs(&[("name", "b"), ("name", "a")])));
        assert!(!matches(&net, &pairs(&[("name", "b")])));
        assert!(matches(
            &net,
            &pairs(&[("tenant_id", "p"), ("fields", "id")])
        ));
        assert!(matches(&net, &pairs(&[("subnets", "s2")])));
        assert_eq!(
            with_fields(net, &pairs(&[("fields", "name")])),
            json!({"name": "a"})
        );
    }
}
