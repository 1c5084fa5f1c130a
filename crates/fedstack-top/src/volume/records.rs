//! What volumes and snapshots share at the top: reading one from its site into the index,
//! lists from the index, show, update, delete and metadata through the owning site.

use super::translate::{self, Known};
use super::{
    bad, err, links, owned_route, render, site_answer_error, site_for_write, site_record_error,
    store_err, with_mv, Req, Res, INDEX_MV, TOP_ID_KEY,
};
use crate::quota::{self, Reservation};
use crate::sites::SiteHandle;
use crate::tenancy::{self, site_error};
use crate::Top;
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::parse_json;
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_site_client::{Scope, SiteError, SiteRequest, SiteResponse};
use fedstack_store::routes::{state, Route};
use fedstack_store::volumes::{kind, VolumeQuery, VolumeRow};
use serde_json::{json, Value};
use std::sync::Arc;

/// The fields of Cinder's snapshot summary view (`GET /snapshots`).
const SNAPSHOT_SUMMARY: [&str; 9] = [
    "id",
    "created_at",
    "updated_at",
    "name",
    "description",
    "volume_id",
    "status",
    "size",
    "metadata",
];

/// Cinder's `osapi_max_limit`.
const MAX_LIMIT: i64 = 1000;

/// A kind of routed block storage record.
pub struct Kind {
    /// Route and index kind.
    pub kind: &'static str,
    /// URL collection: `volumes`.
    pub collection: &'static str,
    /// Body key of one record: `volume`.
    pub key: &'static str,
    /// Name in messages: `Volume`.
    pub label: &'static str,
}

pub const VOLUME: Kind = Kind {
    kind: kind::VOLUME,
    collection: "volumes",
    key: "volume",
    label: "Volume",
};

pub const SNAPSHOT: Kind = Kind {
    kind: kind::SNAPSHOT,
    collection: "snapshots",
    key: "snapshot",
    label: "Snapshot",
};

impl Kind {
    /// Cinder's 404 for a record of this kind.
    pub fn not_found(&self, id: &str) -> ApiError {
        err(
            StatusCode::NOT_FOUND,
            format!("{} {id} could not be found.", self.label),
        )
    }

    /// The site's document in top terms.
    pub async fn translate(&self, top: &Top, k: &Known<'_>, doc: &Value) -> Value {
        if self.kind == kind::SNAPSHOT {
            translate::snapshot(top, k, doc).await
        } else {
            translate::volume(top, k, doc).await
        }
    }

    /// An indexed body as `mv` and the caller's role show it.
    fn render(&self, body: &Value, mv: Microversion, admin: bool) -> Value {
        if self.kind == kind::SNAPSHOT {
            render::snapshot(body, mv)
        } else {
            render::volume(body, mv, admin)
        }
    }

    /// The caller's route of the record named by the path.
    pub async fn route(&self, r: &Req) -> Result<Route, ApiError> {
        let id = r.id(&format!("{}_id", self.key));
        owned_route(&r.c, self.kind, &id, |i| self.not_found(i)).await
    }
}

/// The tenant's scope on a site for a top project.
pub async fn tenant_scope(
    top: &Top,
    site: &SiteHandle,
    project_id: &str,
) -> Result<Scope, ApiError> {
    Ok(Scope::Project(
        tenancy::site_project(top, site, project_id, Service::Volume).await?,
    ))
}

/// Sends a Cinder request to a site; a transport failure is a 503 naming the site.
pub async fn send(
    site: &SiteHandle,
    req: SiteRequest,
    mv: Microversion,
) -> Result<SiteResponse, ApiError> {
    site.client
        .send(with_mv(req, mv))
        .await
        .map_err(|e| site_error(Service::Volume, site, e))
}

/// A record as its site shows it (admin view at [`INDEX_MV`]); `None` when the site no
/// longer has it.
pub async fn site_record(
    k: &Kind,
    site: &SiteHandle,
    site_id: &str,
) -> Result<Option<Value>, SiteError> {
    let req = SiteRequest::new(
        Method::GET,
        "block-storage",
        format!("/{}/{site_id}", k.collection),
        Scope::Admin,
    );
    let resp = site.client.send(with_mv(req, INDEX_MV)).await?;
    if resp.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    Ok(Some(resp.ok()?.json()[k.key].clone()))
}

/// Reads a record from its site into the index. `Ok(None)` when the site no longer has it
/// (the index row is then marked deleted and the route dropped).
pub async fn refresh(
    top: &Top,
    k: &Kind,
    route: &Route,
    user_id: &str,
) -> Result<Option<VolumeRow>, SiteError> {
    let (Some(site), Some(site_id)) = (
        route.site_id.as_deref().and_then(|s| top.sites.get(s)),
        route.site_resource_id.as_deref(),
    ) else {
        return Ok(None);
    };
    let Some(doc) = site_record(k, &site, site_id).await? else {
        let _ = top
            .store
            .mark_volume_row_deleted(k.kind, &route.top_id)
            .await;
        let _ = top.store.delete_route(k.kind, &route.top_id).await;
        return Ok(None);
    };
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id,
        site: &site,
    };
    let body = k.translate(top, &known, &doc).await;
    let row = translate::index_row(k.kind, &known, body);
    top.store
        .upsert_volume_row(&row)
        .await
        .map_err(|e| SiteError::Http {
            status: 500,
            body: e.to_string(),
        })?;
    Ok(Some(row))
}

/// The user recorded for a record at the top (empty when unknown).
pub async fn user_of(top: &Top, k: &Kind, id: &str) -> Result<String, ApiError> {
    let row = top.store.volume_row(k.kind, id).await.map_err(store_err)?;
    Ok(translate::user_of(row.as_ref()))
}

/// `GET /{collection}/{id}`: fresh from the site when it answers, else the index.
pub async fn show(k: &Kind, r: &Req, mv: Microversion) -> Res {
    let route = k.route(r).await?;
    let top = &r.c.top;
    let existing = top
        .store
        .volume_row(k.kind, &route.top_id)
        .await
        .map_err(store_err)?;
    let site_up = route
        .site_id
        .as_deref()
        .and_then(|s| top.sites.get(s))
        .is_some_and(|s| s.is_up());
    let row = if site_up {
        let user = translate::user_of(existing.as_ref());
        match refresh(top, k, &route, &user).await {
            Ok(Some(row)) => Some(row),
            Ok(None) => return Err(k.not_found(&route.top_id)),
            Err(e) => {
                tracing::warn!(id = %route.top_id, error = %e, "site unreachable; answering from the index");
                existing
            }
        }
    } else {
        existing
    };
    let row = row
        .filter(|r| !r.deleted)
        .ok_or_else(|| k.not_found(&route.top_id))?;
    Ok(Json(json!({ k.key: view(top, k, &row, mv, r.c.is_admin()) })).into_response())
}

/// An indexed record as the caller sees it: status `unknown` while its site is down.
fn view(top: &Top, k: &Kind, row: &VolumeRow, mv: Microversion, admin: bool) -> Value {
    let mut body = k.render(&row.body, mv, admin);
    if top.sites.get(&row.site_id).is_some_and(|s| !s.is_up()) {
        body["status"] = json!("unknown");
    }
    body
}

/// `GET /{collection}` and `/{collection}/detail` from the index.
pub async fn list(k: &Kind, r: &Req, mv: Microversion, raw: Option<&str>, detail: bool) -> Res {
    let top = &r.c.top;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(a, b)| (a.into_owned(), b.into_owned()))
        .collect();
    let mut q = VolumeQuery {
        kind: k.kind.to_string(),
        project_id: Some(r.c.project_id().to_string()),
        limit: MAX_LIMIT,
        ..Default::default()
    };
    let mut all_tenants = false;
    let mut project_filter = None;
    for (key, v) in &pairs {
        match key.as_str() {
            "limit" => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("limit param must be an integer"))?;
                if n < 0 {
                    return Err(bad("limit param must be positive"));
                }
                q.limit = n.min(MAX_LIMIT);
            }
            "marker" => {
                let row = top.store.volume_row(k.kind, v).await.map_err(store_err)?;
                let visible = row.filter(|m| r.c.is_admin() || m.project_id == r.c.project_id());
                q.after = Some(visible.ok_or_else(|| {
                    err(
                        StatusCode::NOT_FOUND,
                        format!("Marker {v} could not be found."),
                    )
                })?);
            }
            "sort" | "sort_key" | "sort_dir" => q.ascending = sort_ascending(key, v)?,
            "name" | "display_name" => q.name = Some(v.clone()),
            "status" => q.status = Some(v.clone()),
            "availability_zone" => {
                q.site_id = Some(
                    top.sites
                        .by_az(v)
                        .map(|s| s.id().to_string())
                        .unwrap_or_else(|| "-".into()),
                )
            }
            "all_tenants" => {
                all_tenants = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "1" | "t" | "true" | "on" | "y" | "yes"
                )
            }
            "project_id" => project_filter = Some(v.clone()),
            _ => {}
        }
    }
    if all_tenants && r.c.is_admin() {
        q.project_id = project_filter;
    }
    // A volume scope lists only its sites' records.
    let scoped = r.c.scoped_read_sites(Service::Volume)?;
    if let Some([one]) = scoped.as_deref() {
        q.site_id = Some(one.id().to_string());
    }
    let mut rows = top.store.list_volume_rows(&q).await.map_err(store_err)?;
    if let Some(sites) = &scoped {
        rows.retain(|row| sites.iter().any(|s| s.id() == row.site_id));
    }
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            if detail {
                view(top, k, row, mv, r.c.is_admin())
            } else if k.kind == kind::SNAPSHOT {
                let full = view(top, k, row, mv, r.c.is_admin());
                let summary: serde_json::Map<String, Value> = SNAPSHOT_SUMMARY
                    .iter()
                    .filter_map(|f| full.get(*f).map(|v| (f.to_string(), v.clone())))
                    .collect();
                Value::Object(summary)
            } else {
                json!({"id": row.id, "name": row.name, "links": links(top, k.collection, &row.id)})
            }
        })
        .collect();
    let mut body = json!({ k.collection: items });
    if rows.len() as i64 == q.limit && q.limit > 0 {
        if let Some(last) = rows.last() {
            body[format!("{}_links", k.collection)] = next_link(top, k, detail, &pairs, &last.id);
        }
    }
    Ok(Json(body).into_response())
}

/// Lists sort by creation time; other keys are refused rather than ignored.
fn sort_ascending(key: &str, v: &str) -> Result<bool, ApiError> {
    let dir = match key {
        "sort" => {
            let (sort_key, dir) = v.split_once(':').unwrap_or((v, "desc"));
            if sort_key.trim() != "created_at" {
                return Err(bad(format!(
                    "Invalid input received: sorting by {sort_key} is not supported by the federation; use created_at"
                )));
            }
            dir
        }
        "sort_key" if v != "created_at" => {
            return Err(bad(format!(
                "Invalid input received: sorting by {v} is not supported by the federation; use created_at"
            )))
        }
        "sort_key" => return Ok(false),
        _ => v,
    };
    match dir.trim().to_ascii_lowercase().as_str() {
        "asc" => Ok(true),
        "desc" => Ok(false),
        other => Err(bad(format!(
            "Invalid input received: Unknown sort direction, must be 'desc' or 'asc': {other}"
        ))),
    }
}

fn next_link(top: &Top, k: &Kind, detail: bool, pairs: &[(String, String)], last: &str) -> Value {
    let mut q: Vec<(String, String)> = pairs
        .iter()
        .filter(|(key, _)| key != "marker")
        .cloned()
        .collect();
    q.push(("marker".into(), last.into()));
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish();
    let path = if detail {
        format!("{}/detail", k.collection)
    } else {
        k.collection.to_string()
    };
    json!([{"rel": "next", "href": format!("{}/v3/{path}?{query}", top.service_root(Service::Volume))}])
}

/// `PUT /{collection}/{id}`: forwarded (metadata keeps the routing marker); the answer in
/// top terms.
pub async fn update(k: &Kind, r: &Req, mv: Microversion, body: Value) -> Res {
    let route = k.route(r).await?;
    let top = &r.c.top;
    let mut body = body;
    if let Some(m) = body
        .get_mut(k.key)
        .and_then(|v| v.get_mut("metadata"))
        .and_then(Value::as_object_mut)
    {
        m.insert(TOP_ID_KEY.into(), json!(route.top_id));
    }
    let site = site_for_write(top, &route)?;
    let scope = tenant_scope(top, &site, &route.project_id).await?;
    let site_id = route.site_resource_id.clone().unwrap_or_default();
    let req = SiteRequest::new(
        Method::PUT,
        "block-storage",
        format!("/{}/{site_id}", k.collection),
        scope,
    )
    .json(&body);
    let resp = send(&site, req, mv).await?;
    if !resp.is_success() {
        return Err(site_record_error(&site, &route, &resp));
    }
    let user = user_of(top, k, &route.top_id).await?;
    let _ = refresh(top, k, &route, &user).await;
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id: &user,
        site: &site,
    };
    let doc = k.translate(top, &known, &resp.json()[k.key]).await;
    Ok(Json(json!({ k.key: doc })).into_response())
}

/// `DELETE /{collection}/{id}`: deleted on the site; the route stays `deleting` until the
/// site no longer has it.
pub async fn delete(k: &Kind, r: &Req, mv: Microversion, query: Option<&str>) -> Res {
    let route = k.route(r).await?;
    let top = &r.c.top;
    let site = site_for_write(top, &route)?;
    let scope = tenant_scope(top, &site, &route.project_id).await?;
    let site_id = route.site_resource_id.clone().unwrap_or_default();
    let path = match query {
        Some(q) => format!("/{}/{site_id}?{q}", k.collection),
        None => format!("/{}/{site_id}", k.collection),
    };
    let resp = send(
        &site,
        SiteRequest::new(Method::DELETE, "block-storage", path, scope),
        mv,
    )
    .await?;
    if !(resp.is_success() || resp.status == StatusCode::NOT_FOUND) {
        return Err(site_record_error(&site, &route, &resp));
    }
    top.store
        .set_route(
            k.kind,
            &route.top_id,
            route.site_id.as_deref(),
            route.site_resource_id.as_deref(),
            state::DELETING,
        )
        .await
        .map_err(store_err)?;
    top.store
        .mark_volume_row_deleted(k.kind, &route.top_id)
        .await
        .map_err(store_err)?;
    Ok(super::accepted())
}

/// `/{collection}/{id}/metadata[/{key}]`: forwarded with the site's ID; the routing marker
/// is kept on the site and never shown.
pub async fn metadata(
    k: &Kind,
    r: &Req,
    mv: Microversion,
    method: Method,
    rest: &str,
    body: Bytes,
) -> Res {
    if rest != "metadata" && !rest.starts_with("metadata/") {
        return Err(err(
            StatusCode::NOT_FOUND,
            "The resource could not be found.",
        ));
    }
    let route = k.route(r).await?;
    let top = &r.c.top;
    let site = site_for_write(top, &route)?;
    let scope = tenant_scope(top, &site, &route.project_id).await?;
    let site_id = route.site_resource_id.clone().unwrap_or_default();
    let mut req = SiteRequest::new(
        method.clone(),
        "block-storage",
        format!("/{}/{site_id}/{rest}", k.collection),
        scope,
    );
    if !body.is_empty() {
        let mut v = parse_json(Service::Volume, &body)?;
        if method == Method::PUT && rest == "metadata" {
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert(TOP_ID_KEY.into(), json!(route.top_id));
            }
        }
        req = req.json(&v);
    }
    let resp = send(&site, req, mv).await?;
    if resp.status.is_server_error() {
        return Err(site_record_error(&site, &route, &resp));
    }
    if method != Method::GET && resp.is_success() {
        let user = user_of(top, k, &route.top_id).await?;
        let _ = refresh(top, k, &route, &user).await;
    }
    if resp.status == StatusCode::OK {
        let mut v = resp.json();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove(TOP_ID_KEY);
        }
        return Ok((resp.status, Json(v)).into_response());
    }
    if !resp.is_success() {
        return Err(site_record_error(&site, &route, &resp));
    }
    Ok(resp.status.into_response())
}

/// The site a new record goes to when nothing pins it: the schedulable site holding the
/// fewest of the top's volumes.
pub async fn place(top: &Top) -> Result<Arc<SiteHandle>, ApiError> {
    let counts: std::collections::HashMap<String, i64> = top
        .store
        .volumes_per_site()
        .await
        .map_err(store_err)?
        .into_iter()
        .collect();
    top.sites
        .all()
        .into_iter()
        .filter(|s| s.schedulable())
        .min_by_key(|s| {
            (
                counts.get(s.id()).copied().unwrap_or(0),
                s.name().to_string(),
            )
        })
        .ok_or_else(|| {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                "No site can take the volume: every site is down, disabled or drained.",
            )
        })
}

/// Writes a new record's route (`creating`) before the site call.
pub async fn begin_route(
    top: &Top,
    k: &Kind,
    site: &SiteHandle,
    project_id: &str,
) -> Result<Route, ApiError> {
    let route = Route {
        kind: k.kind.into(),
        top_id: uuid::Uuid::new_v4().to_string(),
        site_id: Some(site.id().to_string()),
        site_resource_id: None,
        project_id: project_id.to_string(),
        state: state::CREATING.into(),
        created_at: fedstack_store::now_ms(),
    };
    top.store.insert_route(&route).await.map_err(store_err)?;
    Ok(route)
}

/// Claims the global quota of a new volume or snapshot (`snapshot`) of `size` GiB, whose
/// route was just written; over quota, the route is forgotten and Cinder's 413 answered.
pub async fn claim(
    top: &Top,
    route: &Route,
    snapshot: bool,
    size: i64,
) -> Result<Reservation, ApiError> {
    let claimed =
        quota::volume::reserve_volume(top, &route.project_id, &route.top_id, snapshot, size).await;
    if claimed.is_err() {
        let _ = top.store.delete_route(&route.kind, &route.top_id).await;
    }
    claimed
}

/// Finishes a create: the route points at the site's record (or is forgotten when the site
/// made nothing; a timeout leaves it `creating` for the sync to adopt), then the index; the
/// quota claim ends with it (kept until it expires when the outcome is unknown).
pub async fn finish_create(
    top: &Top,
    k: &Kind,
    route: Route,
    site: &SiteHandle,
    user_id: &str,
    result: Result<SiteResponse, ApiError>,
    claim: Reservation,
) -> Res {
    let resp = match result {
        Ok(resp) if resp.is_success() => resp,
        Ok(resp) => {
            let _ = top.store.delete_route(k.kind, &route.top_id).await;
            claim.finish(top).await;
            return Err(site_answer_error(site, resp.status, &resp.json()));
        }
        Err(e) => {
            if e.status != StatusCode::SERVICE_UNAVAILABLE || !e.message.contains("did not answer")
            {
                let _ = top.store.delete_route(k.kind, &route.top_id).await;
                claim.finish(top).await;
            }
            return Err(e);
        }
    };
    let answer = resp.json();
    let site_id = answer
        .pointer(&format!("/{}/id", k.key))
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            err(
                StatusCode::BAD_GATEWAY,
                format!("Site {} answered without an ID.", site.name()),
            )
        })?;
    top.store
        .set_route(
            k.kind,
            &route.top_id,
            Some(site.id()),
            Some(&site_id),
            state::ACTIVE,
        )
        .await
        .map_err(store_err)?;
    let route = Route {
        site_resource_id: Some(site_id),
        state: state::ACTIVE.into(),
        ..route
    };
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id,
        site,
    };
    let doc = k.translate(top, &known, &answer[k.key]).await;
    if refresh(top, k, &route, user_id).await.is_err() {
        let row = translate::index_row(k.kind, &known, doc.clone());
        top.store.upsert_volume_row(&row).await.map_err(store_err)?;
    }
    claim.finish(top).await;
    tracing::info!(id = %route.top_id, kind = k.kind, site = %site.name(), "created on site");
    Ok((StatusCode::ACCEPTED, Json(json!({ k.key: doc }))).into_response())
}
