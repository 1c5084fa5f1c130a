//! `/volumes`: create, list, show, update, delete, and metadata.

use super::query::{compare, page, Params, SortValue};
use super::{accepted_empty, json_response, Req, Res};
use crate::ctx::OsJson;
use crate::site::{Site, SiteData};
use crate::volume::model::Volume;
use crate::volume::ops::{volume_not_found, VolumeRequest};
use crate::volume::schema::{self, bad, field_error, py_repr, wrapper};
use crate::volume::views::Shape;
use crate::volume::VolumeData;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
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
        .route("/volumes", get(list).post(create))
        .route("/volumes/detail", get(detail))
        .route("/volumes/summary", get(summary))
        .route("/volumes/{volume_id}", get(show).put(update).delete(delete))
        .route(
            "/volumes/{volume_id}/metadata",
            get(metadata_index)
                .post(metadata_merge)
                .put(metadata_replace),
        )
        .route(
            "/volumes/{volume_id}/metadata/{key}",
            get(metadata_show).put(metadata_set).delete(metadata_delete),
        )
        .route(
            "/volumes/{volume_id}/action",
            axum::routing::post(super::volume_actions::action),
        )
}

/// The `{volume_id}` of a path.
#[derive(Deserialize)]
pub struct VolumePath {
    pub volume_id: String,
}

#[derive(Deserialize)]
struct MetaPath {
    volume_id: String,
    key: String,
}

/// Properties the create schema allows at the top level.
const CREATE_TOP: [&str; 2] = ["volume", "OS-SCH-HNT:scheduler_hints"];

fn additional_property(field: Option<&str>, value: &Value, key: &str) -> ApiError {
    let msg = format!("Additional properties are not allowed ('{key}' was unexpected)");
    match field {
        Some(f) => field_error(f, value, &msg),
        None => bad(msg),
    }
}

/// Parses a create body into a request (image resolved later).
fn parse_create(body: &Value, req: &Req) -> Result<(VolumeRequest, Option<String>), ApiError> {
    if let Some(k) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !CREATE_TOP.contains(&k.as_str())))
    {
        return Err(additional_property(None, body, k));
    }
    let v = wrapper(body, "volume")?;
    let size = schema::size("size", v.get("size"))?;
    let name = pick(v, "name", "display_name")?;
    let description = pick(v, "description", "display_description")?;
    let volume_type = schema::opt_string(v, "volume_type")?;
    let availability_zone = schema::opt_string(v, "availability_zone")?;
    let metadata = schema::metadata("metadata", v.get("metadata"))?;
    let snapshot_id = schema::opt_string(v, "snapshot_id")?;
    let source_volid = schema::opt_string(v, "source_volid")?;
    let image_ref = match schema::opt_string(v, "imageRef")? {
        Some(r) => Some(r),
        None => schema::opt_string(v, "image_id")?,
    };
    if let Some(m) = v.get("multiattach").filter(|m| !m.is_null()) {
        if schema::strict_bool(m)? {
            return Err(bad("multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes."));
        }
    }
    if req.at_least(53) {
        if let Some(k) = v.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
            return Err(additional_property(
                Some("volume"),
                &Value::Object(v.clone()),
                k,
            ));
        }
    }
    let request = VolumeRequest {
        name,
        description,
        size,
        volume_type,
        availability_zone,
        metadata,
        snapshot_id,
        source_volid,
        image: None,
    };
    Ok((request, image_ref))
}

/// Fields of a volume create body (strict from 3.53).
const CREATE_FIELDS: [&str; 17] = [
    "name",
    "description",
    "display_name",
    "display_description",
    "volume_type",
    "metadata",
    "snapshot_id",
    "source_volid",
    "consistencygroup_id",
    "size",
    "availability_zone",
    "multiattach",
    "image_id",
    "imageRef",
    "group_id",
    "backup_id",
    "scheduler_hints",
];

/// `name` (or the v1 alias `display_name`), trimmed.
fn pick(v: &Map<String, Value>, key: &str, alias: &str) -> Result<Option<String>, ApiError> {
    match schema::opt_text(v, key)? {
        Some(s) => Ok(Some(s)),
        None => schema::opt_text(v, alias),
    }
}

/// `POST /volumes`
async fn create(req: Req, OsJson(body): OsJson) -> Res {
    let (mut request, image_ref) = parse_create(&body, &req)?;
    let caller = req.caller();
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let SiteData { image, volume, .. } = &mut *g;
    volume.settle(now);
    if let Some(r) = image_ref {
        let id = r.rsplit('/').next().unwrap_or_default();
        let found = image
            .boot_image(&caller.project_id, id)
            .ok_or_else(|| bad("Invalid image identifier or unable to access requested image."))?;
        request.image = Some(found);
    }
    let id = volume.create_volume(&caller, request, req.clock(now))?;
    let v = volume
        .volumes
        .get(&id)
        .ok_or_else(|| volume_not_found(&id))?;
    let body = json!({"volume": req.viewer().volume(volume, v, Shape::Created)});
    Ok(json_response(StatusCode::ACCEPTED, body))
}

/// `GET /volumes`
async fn list(req: Req, RawQuery(q): RawQuery) -> Res {
    list_volumes(req, q.as_deref(), false)
}

/// `GET /volumes/detail`
async fn detail(req: Req, RawQuery(q): RawQuery) -> Res {
    list_volumes(req, q.as_deref(), true)
}

/// Filters of a volume list.
#[derive(Debug, Default)]
struct Filter {
    name: Option<String>,
    name_like: Option<String>,
    status: Option<String>,
    metadata: Vec<(String, String)>,
    bootable: Option<bool>,
    availability_zone: Option<String>,
    size: Option<u64>,
}

impl Filter {
    fn from(p: &Params, like: bool) -> Self {
        let metadata = p.get("metadata").and_then(parse_dict).unwrap_or_default();
        Filter {
            name: p.get("name").map(str::to_string),
            name_like: like.then(|| p.get("name~").map(str::to_string)).flatten(),
            status: p.get("status").map(str::to_string),
            metadata,
            bootable: p.get("bootable").map(|b| {
                matches!(
                    b.to_ascii_lowercase().as_str(),
                    "1" | "t" | "true" | "on" | "y" | "yes"
                )
            }),
            availability_zone: p.get("availability_zone").map(str::to_string),
            size: p.get("size").and_then(|s| s.parse().ok()),
        }
    }

    fn matches(&self, v: &Volume) -> bool {
        self.name
            .as_ref()
            .is_none_or(|n| v.name.as_ref() == Some(n))
            && self
                .name_like
                .as_ref()
                .is_none_or(|n| v.name.as_ref().is_some_and(|x| x.contains(n.as_str())))
            && self.status.as_ref().is_none_or(|s| v.status.as_str() == s)
            && self
                .metadata
                .iter()
                .all(|(k, val)| v.metadata.get(k) == Some(val))
            && self.bootable.is_none_or(|b| v.bootable == b)
            && self
                .availability_zone
                .as_ref()
                .is_none_or(|a| &v.availability_zone == a)
            && self.size.is_none_or(|s| v.size == s)
    }
}

/// A `{'k': 'v'}` filter value (Python or JSON dict syntax) as pairs.
pub fn parse_dict(s: &str) -> Option<Vec<(String, String)>> {
    let json = s.replace('\'', "\"");
    let Value::Object(o) = serde_json::from_str::<Value>(&json).ok()? else {
        return None;
    };
    Some(
        o.into_iter()
            .map(|(k, v)| (k, schema::py_str(&v)))
            .collect(),
    )
}

/// Sort keys a volume list accepts.
const SORT_KEYS: [&str; 9] = [
    "created_at",
    "updated_at",
    "id",
    "display_name",
    "size",
    "status",
    "availability_zone",
    "bootable",
    "volume_type_id",
];

fn sort_value(v: &Volume, key: &str) -> SortValue {
    match key {
        "created_at" => SortValue::Int(v.seq as i64),
        "updated_at" => v
            .updated_at
            .map_or(SortValue::Null, |t| SortValue::Int(t.timestamp_micros())),
        "id" => SortValue::Text(v.id.clone()),
        "display_name" => v.name.clone().map_or(SortValue::Null, SortValue::Text),
        "size" => SortValue::Int(v.size as i64),
        "status" => SortValue::Text(v.status.as_str().into()),
        "availability_zone" => SortValue::Text(v.availability_zone.clone()),
        "bootable" => SortValue::Int(v.bootable as i64),
        _ => SortValue::Text(v.type_id.clone()),
    }
}

/// The projects a list covers: the caller's, or (admin with `all_tenants`) all or one.
fn list_scope(req: &Req, p: &Params) -> Option<String> {
    if req.ctx.is_admin() && p.flag("all_tenants") {
        p.get("project_id").map(str::to_string)
    } else {
        Some(req.ctx.project_id().to_string())
    }
}

/// One page of volumes with its total (when asked), already settled.
struct Page<'a> {
    items: Vec<&'a Volume>,
    count: Option<usize>,
    limit: usize,
}

fn select<'a>(d: &'a VolumeData, req: &Req, p: &Params) -> Result<Page<'a>, ApiError> {
    let limit = p.limit()?;
    let offset = p.offset()?;
    let sort = p.sort(&SORT_KEYS)?;
    let scope = list_scope(req, p);
    let filter = Filter::from(p, req.at_least(34));
    let marker = match p.get("marker") {
        Some(m) => Some(
            d.volumes
                .get(m)
                .filter(|v| scope.as_deref().is_none_or(|s| v.project_id == s))
                .ok_or_else(|| volume_not_found(m))?,
        ),
        None => None,
    };
    let with_count = req.at_least(45) && p.flag("with_count");
    let all = |d: &'a VolumeData| -> Vec<&'a Volume> {
        d.volumes
            .newest_first(scope.as_deref())
            .filter_map(|id| d.volumes.get(id))
            .filter(|v| filter.matches(v))
            .collect()
    };
    if let Some(keys) = sort {
        let mut items = all(d);
        items.sort_by(|a, b| compare(*a, *b, &keys, sort_value).then_with(|| b.seq.cmp(&a.seq)));
        let count = with_count.then_some(items.len());
        let pos = marker.and_then(|m| items.iter().position(|v| v.id == m.id));
        return Ok(Page {
            items: page(items, pos, offset, limit),
            count,
            limit,
        });
    }
    let count = with_count.then(|| all(d).len());
    let ids = match marker {
        Some(m) => d.volumes.newest_after(scope.as_deref(), m.seq),
        None => d.volumes.newest_first(scope.as_deref()),
    };
    let items = ids
        .filter_map(|id| d.volumes.get(id))
        .filter(|v| filter.matches(v))
        .skip(offset)
        .take(limit)
        .collect();
    Ok(Page {
        items,
        count,
        limit,
    })
}

fn list_volumes(req: Req, q: Option<&str>, detailed: bool) -> Res {
    let p = Params::parse(q);
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let page = select(d, &req, &p)?;
    let viewer = req.viewer();
    let volumes: Vec<Value> = page
        .items
        .iter()
        .map(|v| {
            if detailed {
                viewer.volume(d, v, Shape::Shown)
            } else {
                viewer.volume_summary(v)
            }
        })
        .collect();
    let mut body = json!({ "volumes": volumes });
    let shown = page.count.unwrap_or(page.items.len());
    if let Some(last) = page.items.last().filter(|_| page.limit <= shown) {
        let coll = if detailed {
            "volumes/detail"
        } else {
            "volumes"
        };
        body["volumes_links"] = p.next_link(&req.links.collection(coll), &last.id);
    }
    if let Some(c) = page.count {
        body["count"] = json!(c);
    }
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /volumes/summary` (3.12): count and total size of the listed volumes.
async fn summary(req: Req, RawQuery(q): RawQuery) -> Res {
    if !req.at_least(12) {
        return Err(volume_not_found("summary"));
    }
    let p = Params::parse(q.as_deref());
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let scope = list_scope(&req, &p);
    let (mut count, mut size) = (0u64, 0u64);
    let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in d
        .volumes
        .newest_first(scope.as_deref())
        .filter_map(|id| d.volumes.get(id))
    {
        count += 1;
        size += v.size;
        for (k, val) in &v.metadata {
            let e = meta.entry(k.clone()).or_default();
            if !e.contains(val) {
                e.push(val.clone());
            }
        }
    }
    let mut s = json!({"total_count": count, "total_size": size});
    if req.at_least(36) {
        s["metadata"] = json!(meta);
    }
    Ok(json_response(
        StatusCode::OK,
        json!({ "volume-summary": s }),
    ))
}

/// `GET /volumes/{id}`
async fn show(req: Req, Path(p): Path<VolumePath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let v = d.visible_volume(&req.caller(), &p.volume_id)?;
    let body = json!({"volume": req.viewer().volume(d, v, Shape::Shown)});
    Ok(json_response(StatusCode::OK, body))
}

/// Fields an update body may carry.
const UPDATE_FIELDS: [&str; 5] = [
    "name",
    "description",
    "display_name",
    "display_description",
    "metadata",
];

/// `PUT /volumes/{id}`
async fn update(req: Req, Path(p): Path<VolumePath>, OsJson(body): OsJson) -> Res {
    let v = wrapper(&body, "volume")?;
    if let Some(k) = v.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
        return Err(additional_property(
            Some("volume"),
            &Value::Object(v.clone()),
            k,
        ));
    }
    if req.at_least(53) && v.is_empty() {
        let shown = Value::Object(v.clone());
        let msg = format!(
            "{} is not valid under any of the given schemas",
            py_repr(&shown)
        );
        return Err(field_error("volume", &shown, &msg));
    }
    let name = text_update(v, "name", "display_name")?;
    let description = text_update(v, "description", "display_description")?;
    let metadata = match v.get("metadata") {
        Some(m) => Some(schema::metadata("metadata", Some(m))?),
        None => None,
    };
    let caller = req.caller();
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.update_volume(&caller, &p.volume_id, name, description, now)?;
    if let Some(m) = metadata {
        d.set_volume_metadata(&caller, &p.volume_id, m, true, now)?;
    }
    let v = d.visible_volume(&caller, &p.volume_id)?;
    let body = json!({"volume": req.viewer().volume(d, v, Shape::Updated)});
    Ok(json_response(StatusCode::OK, body))
}

/// A name/description change: absent → unchanged, null → cleared.
fn text_update(
    v: &Map<String, Value>,
    key: &str,
    alias: &str,
) -> Result<Option<Option<String>>, ApiError> {
    for k in [key, alias] {
        if v.contains_key(k) {
            return Ok(Some(schema::opt_text(v, k)?));
        }
    }
    Ok(None)
}

/// `DELETE /volumes/{id}[?cascade=true&force=true]`
async fn delete(req: Req, Path(p): Path<VolumePath>, RawQuery(q): RawQuery) -> Res {
    let params = Params::parse(q.as_deref());
    let cascade = params.flag("cascade");
    let force = req.at_least(23) && params.flag("force");
    if force {
        req.require_admin("volume:force_delete")?;
    }
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.delete_volume(&req.caller(), &p.volume_id, cascade, force, req.clock(now))?;
    Ok(accepted_empty())
}

/// `{"metadata": {...}}` as Python's `json.dumps` writes it (for the 3.15 ETag).
fn python_dumps(meta: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = meta
        .iter()
        .map(|(k, v)| format!("{}: {}", Value::from(k.as_str()), Value::from(v.as_str())))
        .collect();
    format!("{{\"metadata\": {{{}}}}}", items.join(", "))
}

/// `GET /volumes/{id}/metadata` (with an ETag from 3.15).
async fn metadata_index(req: Req, Path(p): Path<VolumePath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let v = d.visible_volume(&req.caller(), &p.volume_id)?;
    let mut r = json_response(StatusCode::OK, json!({"metadata": v.metadata}));
    if req.at_least(15) {
        let tag = hex::encode(<md5::Md5 as md5::Digest>::digest(
            python_dumps(&v.metadata).as_bytes(),
        ));
        if let Ok(h) = HeaderValue::from_str(&tag) {
            r.headers_mut().insert("etag", h);
        }
    }
    Ok(r)
}

fn metadata_body(body: &Value, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match body.get(key) {
        Some(m) => schema::metadata(key, Some(m)),
        None => Err(bad(format!("'{key}' is a required property"))),
    }
}

/// `POST /volumes/{id}/metadata`: merge.
async fn metadata_merge(req: Req, Path(p): Path<VolumePath>, OsJson(body): OsJson) -> Res {
    write_metadata(req, &p.volume_id, metadata_body(&body, "metadata")?, false)
}

/// `PUT /volumes/{id}/metadata`: replace.
async fn metadata_replace(req: Req, Path(p): Path<VolumePath>, OsJson(body): OsJson) -> Res {
    write_metadata(req, &p.volume_id, metadata_body(&body, "metadata")?, true)
}

fn write_metadata(req: Req, id: &str, meta: BTreeMap<String, String>, replace: bool) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let all = d.set_volume_metadata(&req.caller(), id, meta, replace, now)?;
    Ok(json_response(StatusCode::OK, json!({ "metadata": all })))
}

/// `GET /volumes/{id}/metadata/{key}`
async fn metadata_show(req: Req, Path(p): Path<MetaPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let v = d.visible_volume(&req.caller(), &p.volume_id)?;
    let value = v.metadata.get(&p.key).ok_or_else(|| {
        super::super::ops::not_found(format!(
            "Volume {} has no metadata with key {}.",
            p.volume_id, p.key
        ))
    })?;
    Ok(json_response(
        StatusCode::OK,
        json!({"meta": { p.key.clone(): value }}),
    ))
}

/// `PUT /volumes/{id}/metadata/{key}` with `{"meta": {key: value}}`.
async fn metadata_set(req: Req, Path(p): Path<MetaPath>, OsJson(body): OsJson) -> Res {
    let meta = metadata_body(&body, "meta")?;
    if !meta.contains_key(&p.key) {
        return Err(bad("Request body and URI mismatch"));
    }
    if meta.len() > 1 {
        return Err(bad("Request body contains too many items"));
    }
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.set_volume_metadata(&req.caller(), &p.volume_id, meta.clone(), false, now)?;
    Ok(json_response(StatusCode::OK, json!({ "meta": meta })))
}

/// `DELETE /volumes/{id}/metadata/{key}`: 200 with an empty body.
async fn metadata_delete(req: Req, Path(p): Path<MetaPath>) -> Res {
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.delete_volume_metadata(&req.caller(), &p.volume_id, &p.key, now)?;
    Ok(StatusCode::OK.into_response())
}
