//! Cinder's quota API at the top (`os-quota-sets`, `limits`) over the global quotas, and the
//! claims volume and snapshot creates make. Per-volume-type quota keys are not kept at the
//! top: the totals are.

use super::{reserve, Limits, Reservation};
use crate::volume::types::policy;
use crate::volume::{bad, err, store_err, Req};
use crate::Top;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::cinder::{self, OverQuota, DEFAULTS};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The quota and limits routes of Cinder at the top (under `/v3/{project_id}` and `/v3`).
pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route(
            "/os-quota-sets/{target}",
            get(show).put(update).delete(revert),
        )
        .route("/os-quota-sets/{target}/defaults", get(defaults))
        .route("/limits", get(limits))
}

/// Reserves a volume (`snapshot` false) or a snapshot of `size` GiB for the top record
/// `id`, or answers Cinder's 413 for the first quota it would exceed.
pub async fn reserve_volume(
    top: &Top,
    project_id: &str,
    id: &str,
    snapshot: bool,
    size: i64,
) -> Result<Reservation, ApiError> {
    let count = if snapshot { "snapshots" } else { "volumes" };
    match reserve(top, project_id, id, &[(count, 1), ("gigabytes", size)])
        .await
        .map_err(store_err)?
    {
        Ok(r) => Ok(r),
        Err(exceeded) => {
            let first = &exceeded[0];
            let over = OverQuota::of(&first.resource, first.limit, first.used, first.requested);
            Err(err(StatusCode::PAYLOAD_TOO_LARGE, over.api_message()))
        }
    }
}

/// The quota keys the top keeps for Cinder, in Cinder's order.
fn keys() -> impl Iterator<Item = &'static str> {
    DEFAULTS.iter().map(|(k, _)| *k)
}

/// What a project uses of a key (backups and groups are not made through the top).
async fn used(top: &Top, project: &str, key: &str) -> Result<(i64, i64), ApiError> {
    if !["volumes", "snapshots", "gigabytes"].contains(&key) {
        return Ok((0, 0));
    }
    let u = top
        .store
        .quota_usage(project, key)
        .await
        .map_err(store_err)?;
    Ok((u.in_use, u.reserved))
}

/// Members may read their own project's quotas; admins any project's.
fn may_read(r: &Req, project: &str) -> Result<(), ApiError> {
    if r.c.is_admin() || r.c.project_id() == project {
        Ok(())
    } else {
        Err(policy("volume_extension:quotas:show"))
    }
}

async fn quota_set(r: &Req, project: &str, usage: bool) -> Result<Map<String, Value>, ApiError> {
    let limits = Limits::of(&r.c.top, project).await.map_err(store_err)?;
    let mut set = Map::new();
    for k in keys() {
        let limit = limits.get(k);
        let v = if usage {
            let (in_use, reserved) = used(&r.c.top, project, k).await?;
            json!({"limit": limit, "in_use": in_use, "reserved": reserved})
        } else {
            json!(limit)
        };
        set.insert(k.into(), v);
    }
    Ok(set)
}

fn flag(query: Option<&str>, name: &str) -> bool {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == name && matches!(v.to_lowercase().as_str(), "true" | "1" | "yes"))
}

/// `GET /os-quota-sets/{project}[?usage=true]`.
async fn show(r: Req, RawQuery(q): RawQuery) -> Res {
    let target = r.id("target");
    may_read(&r, &target)?;
    let mut set = quota_set(&r, &target, flag(q.as_deref(), "usage")).await?;
    set.insert("id".into(), json!(target));
    Ok(Json(json!({ "quota_set": set })).into_response())
}

/// `GET /os-quota-sets/{project}/defaults`.
async fn defaults(r: Req) -> Res {
    let target = r.id("target");
    may_read(&r, &target)?;
    let limits = Limits::defaults(&r.c.top).await.map_err(store_err)?;
    let mut set: Map<String, Value> = keys().map(|k| (k.into(), json!(limits.get(k)))).collect();
    set.insert("id".into(), json!(target));
    Ok(Json(json!({ "quota_set": set })).into_response())
}

/// `PUT /os-quota-sets/{project}` (admin): known keys, integers from -1, not below usage.
async fn update(r: Req, OsJson(body): OsJson) -> Res {
    if !r.c.is_admin() {
        return Err(policy("volume_extension:quotas:update"));
    }
    let target = r.id("target");
    let set = match body.get("quota_set") {
        Some(Value::Object(s)) if !s.is_empty() => s,
        Some(_) => {
            return Err(bad(
                "Invalid input received: quota_set must be a non-empty object.",
            ))
        }
        None => return Err(bad("'quota_set' is a required property")),
    };
    let unknown: Vec<&str> = set
        .keys()
        .map(String::as_str)
        .filter(|k| !keys().any(|q| q == *k) && !["tenant_id", "id"].contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(bad(format!(
            "Invalid input received: Bad key(s) in quota set: {}",
            unknown.join(", ")
        )));
    }
    let mut changes = Vec::new();
    for k in keys() {
        let Some(v) = set.get(k) else { continue };
        let limit = cinder::quota_value(k, v).map_err(bad)?;
        let (in_use, reserved) = used(&r.c.top, &target, k).await?;
        if k != "per_volume_gigabytes" && limit != -1 && limit < in_use + reserved {
            return Err(bad(cinder::below_usage_message(
                k,
                limit,
                in_use + reserved,
            )));
        }
        changes.push((k, limit));
    }
    for (k, limit) in changes {
        r.c.top
            .store
            .set_quota_limit(&target, k, limit)
            .await
            .map_err(store_err)?;
    }
    let set = quota_set(&r, &target, false).await?;
    Ok(Json(json!({ "quota_set": set })).into_response())
}

/// `DELETE /os-quota-sets/{project}` (admin): back to the defaults.
async fn revert(r: Req) -> Res {
    if !r.c.is_admin() {
        return Err(policy("volume_extension:quotas:delete"));
    }
    let keys: Vec<&str> = keys().collect();
    r.c.top
        .store
        .delete_quota_limits(&r.id("target"), &keys)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /limits`.
async fn limits(r: Req) -> Res {
    let project = r.c.project_id().to_string();
    let limits = Limits::of(&r.c.top, &project).await.map_err(store_err)?;
    let mut usage = std::collections::HashMap::new();
    for k in ["volumes", "snapshots", "gigabytes"] {
        let (in_use, reserved) = used(&r.c.top, &project, k).await?;
        usage.insert(k, in_use + reserved);
    }
    let doc = cinder::limits_document(|k| limits.get(k), |k| usage.get(k).copied().unwrap_or(0));
    Ok(Json(doc).into_response())
}
