//! `/snapshots`: create, list, show, update, delete, admin actions, metadata.

use super::query::{compare, page, Params, SortValue};
use super::volumes::parse_dict;
use super::{accepted_empty, json_response, Req, Res};
use crate::ctx::OsJson;
use crate::site::Site;
use crate::volume::model::{Snapshot, SnapshotStatus};
use crate::volume::ops::{not_found, snapshot_not_found, SnapshotRequest};
use crate::volume::schema::{self, bad, field_error, py_repr, wrapper};
use crate::volume::VolumeData;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use fedstack_api_types::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Routes under `/v3[/{project_id}]`.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/snapshots", get(list).post(create))
        .route("/snapshots/detail", get(detail))
        .route(
            "/snapshots/{snapshot_id}",
            get(show).put(update).delete(delete),
        )
        .route("/snapshots/{snapshot_id}/action", post(action))
        .route(
            "/snapshots/{snapshot_id}/metadata",
            get(metadata_index)
                .post(metadata_merge)
                .put(metadata_replace),
        )
        .route(
            "/snapshots/{snapshot_id}/metadata/{key}",
            get(metadata_show).put(metadata_set).delete(metadata_delete),
        )
}

#[derive(Deserialize)]
struct SnapPath {
    snapshot_id: String,
}

#[derive(Deserialize)]
struct MetaPath {
    snapshot_id: String,
    key: String,
}

fn extra_property(o: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(field_error(
            "snapshot",
            &Value::Object(o.clone()),
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(()),
    }
}

/// `POST /snapshots`
async fn create(req: Req, OsJson(body): OsJson) -> Res {
    let s = wrapper(&body, "snapshot")?;
    extra_property(
        s,
        &[
            "name",
            "display_name",
            "description",
            "volume_id",
            "force",
            "metadata",
        ],
    )?;
    let volume_id = match s.get("volume_id") {
        Some(Value::String(v)) => v.clone(),
        Some(other) => return Err(schema::type_error("volume_id", other, "'string', 'null'")),
        None => {
            return Err(field_error(
                "snapshot",
                &Value::Object(s.clone()),
                "'volume_id' is a required property",
            ))
        }
    };
    let name = match schema::opt_text(s, "name")? {
        Some(n) => Some(n),
        None => schema::opt_text(s, "display_name")?,
    };
    let description = schema::opt_text(s, "description")?;
    let metadata = schema::metadata("metadata", s.get("metadata"))?;
    let force = match s.get("force") {
        None | Some(Value::Null) => None,
        Some(f) => Some(schema::strict_bool(f)?),
    };
    if req.at_least(66) && force == Some(false) {
        return Err(bad("Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored."));
    }
    let allow_in_use = force == Some(true) || req.at_least(66);
    let caller = req.caller();
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let request = SnapshotRequest {
        volume_id,
        name,
        description,
        metadata,
        allow_in_use,
    };
    let id = d.create_snapshot(&caller, request, req.clock(now))?;
    let snap = d
        .snapshots
        .get(&id)
        .ok_or_else(|| snapshot_not_found(&id))?;
    let body = json!({"snapshot": req.viewer().snapshot(snap, true, false)});
    Ok(json_response(StatusCode::ACCEPTED, body))
}

/// `GET /snapshots`
async fn list(req: Req, RawQuery(q): RawQuery) -> Res {
    list_snapshots(req, q.as_deref(), false)
}

/// `GET /snapshots/detail`
async fn detail(req: Req, RawQuery(q): RawQuery) -> Res {
    list_snapshots(req, q.as_deref(), true)
}

/// Sort keys a snapshot list accepts.
const SORT_KEYS: [&str; 7] = [
    "created_at",
    "updated_at",
    "id",
    "display_name",
    "size",
    "status",
    "volume_id",
];

fn sort_value(s: &Snapshot, key: &str) -> SortValue {
    match key {
        "created_at" => SortValue::Int(s.seq as i64),
        "updated_at" => s
            .updated_at
            .map_or(SortValue::Null, |t| SortValue::Int(t.timestamp_micros())),
        "id" => SortValue::Text(s.id.clone()),
        "display_name" => s.name.clone().map_or(SortValue::Null, SortValue::Text),
        "size" => SortValue::Int(s.size as i64),
        "status" => SortValue::Text(s.status.as_str().into()),
        _ => SortValue::Text(s.volume_id.clone()),
    }
}

/// Whether a snapshot passes the list filters.
fn matches(s: &Snapshot, p: &Params, meta: &[(String, String)]) -> bool {
    p.get("name").is_none_or(|n| s.name.as_deref() == Some(n))
        && p.get("status").is_none_or(|st| s.status.as_str() == st)
        && p.get("volume_id").is_none_or(|v| s.volume_id == v)
        && meta.iter().all(|(k, v)| s.metadata.get(k) == Some(v))
}

fn select<'a>(d: &'a VolumeData, req: &Req, p: &Params) -> Result<Vec<&'a Snapshot>, ApiError> {
    let limit = p.limit()?;
    let offset = p.offset()?;
    let sort = p.sort(&SORT_KEYS)?;
    let scope = if req.ctx.is_admin() && p.flag("all_tenants") {
        p.get("project_id").map(str::to_string)
    } else {
        Some(req.ctx.project_id().to_string())
    };
    let meta = p.get("metadata").and_then(parse_dict).unwrap_or_default();
    let mut items: Vec<&Snapshot> = d
        .snapshots
        .newest_first(scope.as_deref())
        .filter_map(|id| d.snapshots.get(id))
        .filter(|s| matches(s, p, &meta))
        .collect();
    if let Some(keys) = sort {
        items.sort_by(|a, b| compare(*a, *b, &keys, sort_value).then_with(|| b.seq.cmp(&a.seq)));
    }
    let pos = match p.get("marker") {
        Some(m) => Some(
            items
                .iter()
                .position(|s| s.id == m)
                .ok_or_else(|| snapshot_not_found(m))?,
        ),
        None => None,
    };
    Ok(page(items, pos, offset, limit))
}

fn list_snapshots(req: Req, q: Option<&str>, detailed: bool) -> Res {
    let p = Params::parse(q);
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let items = select(d, &req, &p)?;
    let viewer = req.viewer();
    let snapshots: Vec<Value> = items
        .iter()
        .map(|s| {
            if detailed {
                viewer.snapshot(s, false, true)
            } else {
                viewer.snapshot_summary(s, false)
            }
        })
        .collect();
    let mut body = json!({ "snapshots": snapshots });
    if let Some(last) = items
        .last()
        .filter(|_| p.limit().unwrap_or(0) <= items.len())
    {
        let coll = if detailed {
            "snapshots/detail"
        } else {
            "snapshots"
        };
        body["snapshots_links"] = p.next_link(&req.links.collection(coll), &last.id);
    }
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /snapshots/{id}`
async fn show(req: Req, Path(p): Path<SnapPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let s = d.visible_snapshot(&req.caller(), &p.snapshot_id)?;
    let body = json!({"snapshot": req.viewer().snapshot(s, false, true)});
    Ok(json_response(StatusCode::OK, body))
}

/// `PUT /snapshots/{id}`
async fn update(req: Req, Path(p): Path<SnapPath>, OsJson(body): OsJson) -> Res {
    let s = wrapper(&body, "snapshot")?;
    let fields = ["name", "description", "display_name", "display_description"];
    extra_property(s, &fields)?;
    if s.is_empty() {
        let shown = Value::Object(s.clone());
        let msg = format!(
            "{} is not valid under any of the given schemas",
            py_repr(&shown)
        );
        return Err(field_error("snapshot", &shown, &msg));
    }
    let text = |a: &str, b: &str| -> Result<Option<Option<String>>, ApiError> {
        for k in [a, b] {
            if s.contains_key(k) {
                return Ok(Some(schema::opt_text(s, k)?));
            }
        }
        Ok(None)
    };
    let name = text("name", "display_name")?;
    let description = text("description", "display_description")?;
    let caller = req.caller();
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.update_snapshot(&caller, &p.snapshot_id, name, description, now)?;
    let snap = d.visible_snapshot(&caller, &p.snapshot_id)?;
    let body = json!({"snapshot": req.viewer().snapshot(snap, false, false)});
    Ok(json_response(StatusCode::OK, body))
}

/// `DELETE /snapshots/{id}`
async fn delete(req: Req, Path(p): Path<SnapPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.delete_snapshot(&req.caller(), &p.snapshot_id, false, req.clock(now))?;
    Ok(accepted_empty())
}

/// `POST /snapshots/{id}/action`: admin `os-reset_status` and `os-force_delete`.
async fn action(req: Req, Path(p): Path<SnapPath>, OsJson(body): OsJson) -> Res {
    let Some((name, args)) = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        return Err(bad("Malformed request body"));
    };
    let now = Utc::now();
    let caller = req.caller();
    match name.as_str() {
        "os-reset_status" => {
            req.require_admin("volume_extension:snapshot_admin_actions:reset_status")?;
            let status = reset_target(args)?;
            let mut g = req.ctx.site.data.lock();
            g.volume.settle(now);
            g.volume
                .reset_snapshot_status(&caller, &p.snapshot_id, status, now)?;
        }
        "os-force_delete" => {
            req.require_admin("volume_extension:snapshot_admin_actions:force_delete")?;
            let mut g = req.ctx.site.data.lock();
            g.volume.settle(now);
            g.volume
                .delete_snapshot(&caller, &p.snapshot_id, true, req.clock(now))?;
        }
        other => {
            return Err(bad(format!(
                "There is no such action: {other}. Verify the request body and Content-Type header and try again."
            )))
        }
    }
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// The status of a snapshot `os-reset_status`.
fn reset_target(args: &Value) -> Result<SnapshotStatus, ApiError> {
    let o = args
        .as_object()
        .ok_or_else(|| schema::type_error("os-reset_status", args, "'object'"))?;
    let status = match o.get("status") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(schema::type_error("status", v, "'string'")),
        None => {
            return Err(field_error(
                "os-reset_status",
                args,
                "'status' is a required property",
            ))
        }
    };
    SnapshotStatus::parse(&status).ok_or_else(|| {
        field_error(
            "status",
            &Value::String(status.clone()),
            &format!("'{status}' is not a 'snapshot_status'"),
        )
    })
}

fn snapshot_metadata(
    d: &mut VolumeData,
    req: &Req,
    id: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(d.visible_snapshot(&req.caller(), id)?.metadata.clone())
}

/// `GET /snapshots/{id}/metadata`
async fn metadata_index(req: Req, Path(p): Path<SnapPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    g.volume.settle(now);
    let m = snapshot_metadata(&mut g.volume, &req, &p.snapshot_id)?;
    Ok(json_response(StatusCode::OK, json!({ "metadata": m })))
}

fn write(
    req: &Req,
    id: &str,
    meta: BTreeMap<String, String>,
    replace: bool,
) -> Result<BTreeMap<String, String>, ApiError> {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.visible_snapshot(&req.caller(), id)?;
    let s = d
        .snapshots
        .get_mut(id)
        .ok_or_else(|| snapshot_not_found(id))?;
    if replace {
        s.metadata = meta;
    } else {
        s.metadata.extend(meta);
    }
    s.updated_at = Some(now);
    Ok(s.metadata.clone())
}

fn metadata_arg(body: &Value, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match body.get(key) {
        Some(m) => schema::metadata(key, Some(m)),
        None => Err(bad(format!("'{key}' is a required property"))),
    }
}

/// `POST /snapshots/{id}/metadata`: merge.
async fn metadata_merge(req: Req, Path(p): Path<SnapPath>, OsJson(body): OsJson) -> Res {
    let m = write(
        &req,
        &p.snapshot_id,
        metadata_arg(&body, "metadata")?,
        false,
    )?;
    Ok(json_response(StatusCode::OK, json!({ "metadata": m })))
}

/// `PUT /snapshots/{id}/metadata`: replace.
async fn metadata_replace(req: Req, Path(p): Path<SnapPath>, OsJson(body): OsJson) -> Res {
    let m = write(&req, &p.snapshot_id, metadata_arg(&body, "metadata")?, true)?;
    Ok(json_response(StatusCode::OK, json!({ "metadata": m })))
}

fn no_key(id: &str, key: &str) -> ApiError {
    not_found(format!(
        "Metadata item was not found: snapshot {id} has no metadata with key {key}."
    ))
}

/// `GET /snapshots/{id}/metadata/{key}`
async fn metadata_show(req: Req, Path(p): Path<MetaPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    g.volume.settle(now);
    let m = snapshot_metadata(&mut g.volume, &req, &p.snapshot_id)?;
    let v = m
        .get(&p.key)
        .ok_or_else(|| no_key(&p.snapshot_id, &p.key))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"meta": { p.key.clone(): v }}),
    ))
}

/// `PUT /snapshots/{id}/metadata/{key}`
async fn metadata_set(req: Req, Path(p): Path<MetaPath>, OsJson(body): OsJson) -> Res {
    let meta = metadata_arg(&body, "meta")?;
    if !meta.contains_key(&p.key) {
        return Err(bad("Request body and URI mismatch"));
    }
    if meta.len() > 1 {
        return Err(bad("Request body contains too many items"));
    }
    write(&req, &p.snapshot_id, meta.clone(), false)?;
    Ok(json_response(StatusCode::OK, json!({ "meta": meta })))
}

/// `DELETE /snapshots/{id}/metadata/{key}`
async fn metadata_delete(req: Req, Path(p): Path<MetaPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.visible_snapshot(&req.caller(), &p.snapshot_id)?;
    let s = d
        .snapshots
        .get_mut(&p.snapshot_id)
        .ok_or_else(|| snapshot_not_found(&p.snapshot_id))?;
    if s.metadata.remove(&p.key).is_none() {
        return Err(no_key(&p.snapshot_id, &p.key));
    }
    s.updated_at = Some(now);
    Ok(StatusCode::OK.into_response())
}
