//! Neutron's quota API at the top (`/v2.0/quotas`) over the global quotas, and the count
//! check every top network resource passes when it is stored.

use super::{reserve, Limits, Reservation};
use crate::auth::Caller;
use crate::network::{neutron_error, store_err};
use crate::Top;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::neutron::{self, QUOTA_DEFAULTS};
use fedstack_api_types::ApiError;
use fedstack_store::networks::NetResource;
use serde_json::{json, Map, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The quota routes of Neutron at the top.
pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route(
            "/v2.0/quotas/{project}",
            get(show).put(update).delete(revert),
        )
        .route("/v2.0/quotas/{project}/details", get(details))
        .route("/v2.0/quotas/{project}/default", get(defaults))
}

/// Reserves one `kind` (`network`, `port`, `floatingip`, ...) for the top resource `id` of
/// `project_id`, or answers Neutron's 409 `OverQuota`.
pub async fn reserve_one(
    top: &Top,
    project_id: &str,
    kind: &str,
    id: &str,
) -> Result<Reservation, ApiError> {
    match reserve(top, project_id, id, &[(kind, 1)])
        .await
        .map_err(store_err)?
    {
        Ok(r) => Ok(r),
        Err(_) => Err(neutron_error(
            StatusCode::CONFLICT,
            "OverQuota",
            neutron::over_quota_message(kind),
        )),
    }
}

/// Stores a new top network resource within its project's quota of its kind.
pub async fn insert_counted(top: &Top, n: &NetResource) -> Result<(), ApiError> {
    let claim = reserve_one(top, &n.project_id, &n.kind, &n.id).await?;
    let stored = top.store.insert_net_resource(n).await.map_err(store_err);
    claim.finish(top).await;
    stored
}

fn keys() -> impl Iterator<Item = &'static str> {
    QUOTA_DEFAULTS.iter().map(|(k, _)| *k)
}

async fn used(top: &Top, project: &str, key: &str) -> Result<i64, ApiError> {
    let u = top
        .store
        .quota_usage(project, key)
        .await
        .map_err(store_err)?;
    Ok(u.in_use + u.reserved)
}

fn admin_required() -> ApiError {
    neutron_error(
        StatusCode::FORBIDDEN,
        "AdminRequired",
        "User does not have admin privileges: Only admin can view or configure quota.",
    )
}

/// Non-admins may only look at their own project.
fn may_read(c: &Caller, project: &str) -> Result<(), ApiError> {
    if c.is_admin() || c.project_id() == project {
        Ok(())
    } else {
        Err(neutron_error(
            StatusCode::FORBIDDEN,
            "NotAuthorized",
            "Not authorized.",
        ))
    }
}

fn limits_json(limits: &Limits) -> Map<String, Value> {
    keys()
        .map(|k| (k.to_string(), json!(limits.get(k))))
        .collect()
}

async fn show(c: Caller, Path(project): Path<String>) -> Res {
    may_read(&c, &project)?;
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    Ok(Json(json!({"quota": limits_json(&limits)})).into_response())
}

async fn defaults(c: Caller, Path(project): Path<String>) -> Res {
    may_read(&c, &project)?;
    let limits = Limits::defaults(&c.top).await.map_err(store_err)?;
    Ok(Json(json!({"quota": limits_json(&limits)})).into_response())
}

async fn details(c: Caller, Path(project): Path<String>) -> Res {
    may_read(&c, &project)?;
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    let mut m = Map::new();
    for k in keys() {
        let u = c
            .top
            .store
            .quota_usage(&project, k)
            .await
            .map_err(store_err)?;
        m.insert(
            k.into(),
            json!({"limit": limits.get(k), "used": u.in_use, "reserved": u.reserved}),
        );
    }
    Ok(Json(json!({ "quota": m })).into_response())
}

/// `PUT /v2.0/quotas/{project}` (admin): known resources, integers from -1, not below usage.
async fn update(c: Caller, Path(project): Path<String>, OsJson(body): OsJson) -> Res {
    let Some(Value::Object(set)) = body.get("quota") else {
        return Err(neutron_error(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "Resource body required",
        ));
    };
    // `check_limit` refuses limits below usage; `force` (or neither) sets them anyway.
    let flag = |k: &str| {
        set.get(k).is_some_and(|v| {
            v == true || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
    };
    let check_limit = flag("check_limit") && !flag("force");
    if let Some(k) = set.keys().find(|k| {
        !keys().any(|q| q == k.as_str()) && !["check_limit", "force"].contains(&k.as_str())
    }) {
        return Err(neutron_error(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            format!("Unrecognized attribute(s) '{k}'"),
        ));
    }
    if !c.is_admin() {
        return Err(admin_required());
    }
    let mut changes = Vec::new();
    for k in keys() {
        let Some(v) = set.get(k) else { continue };
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= -1)
            .ok_or_else(|| {
                neutron_error(
                    StatusCode::BAD_REQUEST,
                    "HTTPBadRequest",
                    format!("Invalid input for {k}. Reason: '{v}' is not a valid integer of at least -1."),
                )
            })?;
        let in_use = used(&c.top, &project, k).await?;
        if check_limit && n >= 0 && n < in_use {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                neutron::below_usage_message(k, n, in_use),
            ));
        }
        changes.push((k, n));
    }
    for (k, n) in changes {
        c.top
            .store
            .set_quota_limit(&project, k, n)
            .await
            .map_err(store_err)?;
    }
    let limits = Limits::of(&c.top, &project).await.map_err(store_err)?;
    Ok(Json(json!({"quota": limits_json(&limits)})).into_response())
}

/// `DELETE /v2.0/quotas/{project}` (admin): back to the defaults.
async fn revert(c: Caller, Path(project): Path<String>) -> Res {
    if !c.is_admin() {
        return Err(admin_required());
    }
    let keys: Vec<&str> = keys().collect();
    c.top
        .store
        .delete_quota_limits(&project, &keys)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
