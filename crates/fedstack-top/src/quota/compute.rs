//! Nova's quota API at the top (`os-quota-sets`, `limits`) over the global quotas, and the
//! claim a server create makes.

use super::{reserve, Limits, Reservation};
use crate::auth::Caller;
use crate::compute::{err, policy, store_err};
use crate::Top;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::{Mv, OsJson};
use fedstack_api_types::nova::quota::{self, Over, QuotaKind};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::{ApiError, Microversion};
use fedstack_store::flavors::Flavor;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The quota and limits routes of Nova at the top.
pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(show).put(update).delete(revert),
        )
        .route("/v2.1/os-quota-sets/{project}/detail", get(detail))
        .route("/v2.1/os-quota-sets/{project}/defaults", get(defaults))
        .route("/v2.1/limits", get(limits))
}

/// Reserves one server of `flavor` for `project_id` (the top server `server_id`), or answers
/// Nova's 403 naming the quotas it would exceed.
pub async fn reserve_server(
    top: &Top,
    project_id: &str,
    server_id: &str,
    flavor: &Flavor,
) -> Result<Reservation, ApiError> {
    let amounts = [
        ("instances", 1),
        ("cores", flavor.vcpus),
        ("ram", flavor.ram),
    ];
    match reserve(top, project_id, server_id, &amounts)
        .await
        .map_err(store_err)?
    {
        Ok(r) => Ok(r),
        Err(exceeded) => {
            let mut over: Vec<Over> = exceeded
                .iter()
                .filter_map(|e| {
                    Some(Over {
                        kind: QuotaKind::from_key(&e.resource)?,
                        requested: e.requested,
                        used: e.used,
                        limit: e.limit,
                    })
                })
                .collect();
            over.sort_by_key(|o| o.kind);
            Err(err(StatusCode::FORBIDDEN, quota::over_quota_message(&over)))
        }
    }
}

/// What a project uses of one Nova quota, and what is reserved for creates under way.
async fn usage(top: &Top, project: &str, kind: QuotaKind) -> Result<(i64, i64), ApiError> {
    let u = top
        .store
        .quota_usage(project, kind.key())
        .await
        .map_err(store_err)?;
    Ok((u.in_use, u.reserved))
}

/// Members may only look at their own project.
fn may_read(c: &Caller, project: &str, rule: &str) -> Result<(), ApiError> {
    if c.is_admin() || c.project_id() == project {
        Ok(())
    } else {
        Err(policy(&format!("os_compute_api:os-quota-sets:{rule}")))
    }
}

fn limits_of(limits: &Limits, mv: Microversion) -> Map<String, Value> {
    QuotaKind::shown(mv)
        .map(|k| (k.key().to_string(), json!(limits.get(k.key()))))
        .collect()
}

async fn show(c: Caller, Mv(mv): Mv, Path(project): Path<String>) -> Res {
    may_read(&c, &project, "show")?;
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    set.extend(limits_of(&limits, mv));
    Ok(Json(json!({ "quota_set": set })).into_response())
}

async fn detail(c: Caller, Mv(mv): Mv, Path(project): Path<String>) -> Res {
    may_read(&c, &project, "detail")?;
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for k in QuotaKind::shown(mv) {
        let (in_use, reserved) = usage(&c.top, &project, k).await?;
        set.insert(
            k.key().into(),
            json!({"limit": limits.get(k.key()), "in_use": in_use, "reserved": reserved}),
        );
    }
    Ok(Json(json!({ "quota_set": set })).into_response())
}

async fn defaults(c: Caller, Mv(mv): Mv, Path(project): Path<String>) -> Res {
    let limits = Limits::defaults(&c.top).await.map_err(store_err)?;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    set.extend(limits_of(&limits, mv));
    Ok(Json(json!({ "quota_set": set })).into_response())
}

/// `PUT /os-quota-sets/{project}` (admin): limits below what is used are refused unless
/// `force` is set, as Nova does.
async fn update(c: Caller, Mv(mv): Mv, Path(project): Path<String>, OsJson(body): OsJson) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-quota-sets:update"));
    }
    validate(&quota::update_schema(mv), &body)?;
    let set = &body["quota_set"];
    let force = set.get("force").is_some_and(schema::truthy);
    let mut changes = Vec::new();
    for k in QuotaKind::shown(mv) {
        let Some(limit) = set.get(k.key()).and_then(schema::as_int) else {
            continue;
        };
        let (in_use, reserved) = usage(&c.top, &project, k).await?;
        if !force && limit >= 0 && limit < in_use + reserved {
            return Err(err(
                StatusCode::BAD_REQUEST,
                quota::below_usage_message(k, limit, in_use + reserved),
            ));
        }
        changes.push((k, limit));
    }
    for (k, limit) in changes {
        c.top
            .store
            .set_quota_limit(&project, k.key(), limit)
            .await
            .map_err(store_err)?;
    }
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    Ok(Json(json!({ "quota_set": limits_of(&limits, mv) })).into_response())
}

/// `DELETE /os-quota-sets/{project}` (admin): back to the defaults.
async fn revert(c: Caller, Path(project): Path<String>) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-quota-sets:delete"));
    }
    let keys: Vec<&str> = QuotaKind::ALL.iter().map(|k| k.key()).collect();
    c.top
        .store
        .delete_quota_limits(&project, &keys)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /limits`: the project's absolute limits and usage (admins may pass `tenant_id`).
async fn limits(c: Caller, Mv(mv): Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    let project = match q.get("tenant_id") {
        Some(p) if c.is_admin() => p.clone(),
        _ => c.project_id().to_string(),
    };
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    let mut used = HashMap::new();
    for k in [
        QuotaKind::Instances,
        QuotaKind::Cores,
        QuotaKind::Ram,
        QuotaKind::ServerGroups,
    ] {
        let (in_use, reserved) = usage(&c.top, &project, k).await?;
        used.insert(k, in_use + reserved);
    }
    let absolute = quota::absolute_limits(
        mv,
        |k| limits.get(k.key()),
        |k| used.get(&k).copied().unwrap_or(0),
    );
    Ok(Json(json!({"limits": {"rate": [], "absolute": absolute}})).into_response())
}
