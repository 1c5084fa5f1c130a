//! Availability zones, limits and quota sets.

use super::query::Params;
use super::{json_response, Req, Res};
use crate::ctx::OsJson;
use crate::site::Site;
use crate::volume::quota::{Usage, DEFAULTS, PER_TYPE};
use crate::volume::schema::{bad, field_error};
use crate::volume::views::db_time;
use crate::volume::{VolumeData, AVAILABILITY_ZONE};
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use fedstack_api_types::{cinder, ApiError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Routes under `/v3[/{project_id}]`.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/os-availability-zone", get(availability_zones))
        .route("/limits", get(limits))
        .route(
            "/os-quota-sets/{target}",
            get(quota_show).put(quota_update).delete(quota_delete),
        )
        .route("/os-quota-sets/{target}/defaults", get(quota_defaults))
        .route("/os-services", get(services))
        .route("/scheduler-stats/get_pools", get(pools))
}

#[derive(Deserialize)]
struct Target {
    target: String,
}

/// `GET /os-availability-zone`
async fn availability_zones(_req: Req) -> Res {
    Ok(json_response(
        StatusCode::OK,
        json!({"availabilityZoneInfo": [
            {"zoneName": AVAILABILITY_ZONE, "zoneState": {"available": true}}
        ]}),
    ))
}

/// `GET /os-services` (admin): the scheduler and the one volume backend, both up.
async fn services(req: Req, RawQuery(q): RawQuery) -> Res {
    req.require_admin("volume_extension:services:index")?;
    let p = Params::parse(q.as_deref());
    let g = req.ctx.site.data.lock();
    let d = &g.volume;
    let updated = db_time(Utc::now());
    let backend = d.backend_host.split('#').next().unwrap_or_default();
    let scheduler_host = backend.split('@').next().unwrap_or_default();
    let list: Vec<Value> = [
        ("cinder-scheduler", scheduler_host),
        ("cinder-volume", backend),
    ]
    .into_iter()
    .filter(|(b, h)| {
        p.get("binary").is_none_or(|x| x == *b) && p.get("host").is_none_or(|x| x == *h)
    })
    .map(|(binary, host)| {
        let mut s = json!({
            "binary": binary, "host": host, "zone": AVAILABILITY_ZONE,
            "status": "enabled", "state": "up", "updated_at": updated,
        });
        if binary == "cinder-volume" && req.at_least(49) {
            s["backend_state"] = json!("up");
        }
        if req.at_least(7) {
            s["cluster"] = Value::Null;
        }
        s["disabled_reason"] = Value::Null;
        if binary == "cinder-volume" {
            s["replication_status"] = json!("disabled");
            s["active_backend_id"] = Value::Null;
            s["frozen"] = json!(false);
        }
        s
    })
    .collect();
    Ok(json_response(StatusCode::OK, json!({ "services": list })))
}

/// `GET /scheduler-stats/get_pools[?detail=true]` (admin): the backend's single pool.
async fn pools(req: Req, RawQuery(q): RawQuery) -> Res {
    req.require_admin("scheduler_extension:scheduler_stats:get_pools")?;
    let detail = Params::parse(q.as_deref()).flag("detail");
    let g = req.ctx.site.data.lock();
    let d = &g.volume;
    let mut pool = json!({"name": d.backend_host});
    if detail {
        let allocated: i64 = d.quotas.total_gigabytes();
        pool["capabilities"] = json!({
            "pool_name": "lvmdriver-1",
            "volume_backend_name": "lvmdriver-1",
            "vendor_name": "Open Source",
            "driver_version": "3.0.0",
            "storage_protocol": "iSCSI",
            "total_capacity_gb": 1000.0,
            "free_capacity_gb": (1000 - allocated).max(0) as f64,
            "allocated_capacity_gb": allocated,
            "reserved_percentage": 0,
            "thin_provisioning_support": true,
            "thick_provisioning_support": false,
            "multiattach": true,
            "backend_state": "up",
            "timestamp": db_time(Utc::now()),
        });
    }
    Ok(json_response(StatusCode::OK, json!({ "pools": [pool] })))
}

/// `GET /limits` (an admin may name another project with `project_id` from 3.39).
async fn limits(req: Req, RawQuery(q): RawQuery) -> Res {
    let p = Params::parse(q.as_deref());
    let project = match p.get("project_id") {
        Some(other) if req.ctx.is_admin() && req.at_least(39) => other.to_string(),
        _ => req.ctx.project_id().to_string(),
    };
    let g = req.ctx.site.data.lock();
    let q = &g.volume.quotas;
    let u = q.usage(&project).total;
    let body = cinder::limits_document(|k| q.limit(&project, k), |k| u.of(k));
    Ok(json_response(StatusCode::OK, body))
}

/// Every quota key in Cinder's order: the totals, the per-type keys, then `groups`.
fn quota_keys(d: &VolumeData) -> Vec<String> {
    let mut keys: Vec<String> = DEFAULTS
        .iter()
        .filter(|(k, _)| *k != "groups")
        .map(|(k, _)| k.to_string())
        .collect();
    for t in d.types.values() {
        keys.extend(PER_TYPE.iter().map(|r| format!("{r}_{}", t.name)));
    }
    keys.push("groups".into());
    keys
}

/// What a project uses of a quota key.
fn in_use(d: &VolumeData, usage: &Usage, key: &str) -> i64 {
    if let Some(c) = ["volumes", "gigabytes", "snapshots"]
        .iter()
        .find(|r| **r == key)
    {
        return usage.total.of(c);
    }
    for t in d.types.values() {
        for r in PER_TYPE {
            if key == format!("{r}_{}", t.name) {
                return usage.per_type.get(&t.id).map_or(0, |c| c.of(r));
            }
        }
    }
    0
}

/// A project's quota set: limits, or with `usage` each as `{limit, in_use, reserved}`.
fn quota_set(d: &VolumeData, project: &str, usage: bool) -> Map<String, Value> {
    let u = d.quotas.usage(project);
    quota_keys(d)
        .into_iter()
        .map(|k| {
            let limit = d.quotas.limit(project, &k);
            let v = if usage {
                let used = if k == "per_volume_gigabytes" {
                    0
                } else {
                    in_use(d, &u, &k)
                };
                json!({"limit": limit, "in_use": used, "reserved": 0})
            } else {
                json!(limit)
            };
            (k, v)
        })
        .collect()
}

/// Members may read their own project's quotas; admins any project's.
fn may_read(req: &Req, project: &str, action: &str) -> Result<(), ApiError> {
    if req.ctx.is_admin() || req.ctx.project_id() == project {
        Ok(())
    } else {
        Err(crate::volume::ops::policy_denied(action))
    }
}

/// `GET /os-quota-sets/{project}[?usage=true]`
async fn quota_show(req: Req, Path(t): Path<Target>, RawQuery(q): RawQuery) -> Res {
    may_read(&req, &t.target, "volume_extension:quotas:show")?;
    let usage = Params::parse(q.as_deref()).flag("usage");
    let g = req.ctx.site.data.lock();
    let mut set = quota_set(&g.volume, &t.target, usage);
    set.insert("id".into(), json!(t.target));
    Ok(json_response(StatusCode::OK, json!({ "quota_set": set })))
}

/// `GET /os-quota-sets/{project}/defaults`
async fn quota_defaults(req: Req, Path(t): Path<Target>) -> Res {
    may_read(&req, &t.target, "volume_extension:quotas:show")?;
    let g = req.ctx.site.data.lock();
    let mut set: Map<String, Value> = quota_keys(&g.volume)
        .into_iter()
        .map(|k| {
            let v = json!(crate::volume::quota::default_limit(&k));
            (k, v)
        })
        .collect();
    set.insert("id".into(), json!(t.target));
    Ok(json_response(StatusCode::OK, json!({ "quota_set": set })))
}

/// Validates `{"quota_set": {...}}`: known keys, integers in -1..=DB_MAX_INT.
fn parse_quota_update(d: &VolumeData, body: &Value) -> Result<Vec<(String, i64)>, ApiError> {
    let Some(o) = body.as_object() else {
        return Err(bad("Malformed request body"));
    };
    if let Some(k) = o.keys().find(|k| *k != "quota_set") {
        return Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let set = match o.get("quota_set") {
        Some(Value::Object(s)) if !s.is_empty() => s,
        Some(v @ Value::Object(_)) => {
            return Err(field_error(
                "quota_set",
                v,
                "{} does not have enough properties",
            ))
        }
        Some(v) => {
            return Err(crate::volume::schema::type_error(
                "quota_set",
                v,
                "'object'",
            ))
        }
        None => return Err(bad("'quota_set' is a required property")),
    };
    let keys = quota_keys(d);
    let bad_keys: Vec<&str> = set
        .keys()
        .filter(|k| !keys.contains(k) && !NON_QUOTA_KEYS.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !bad_keys.is_empty() {
        return Err(bad(format!(
            "Invalid input received: Bad key(s) in quota set: {}",
            bad_keys.join(", ")
        )));
    }
    set.iter()
        .filter(|(k, _)| !NON_QUOTA_KEYS.contains(&k.as_str()))
        .map(|(k, v)| Ok((k.clone(), cinder::quota_value(k, v).map_err(bad)?)))
        .collect()
}

/// Keys a quota update may carry that are not quotas.
const NON_QUOTA_KEYS: [&str; 2] = ["tenant_id", "id"];

/// `PUT /os-quota-sets/{project}` (admin)
async fn quota_update(req: Req, Path(t): Path<Target>, OsJson(body): OsJson) -> Res {
    req.require_admin("volume_extension:quotas:update")?;
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    let values = parse_quota_update(d, &body)?;
    let usage = d.quotas.usage(&t.target);
    for (k, v) in &values {
        let used = in_use(d, &usage, k);
        if k != "per_volume_gigabytes" && *v != -1 && *v < used {
            return Err(bad(cinder::below_usage_message(k, *v, used)));
        }
    }
    for (k, v) in values {
        d.quotas.set_limit(&t.target, &k, v);
    }
    let set = quota_set(d, &t.target, false);
    Ok(json_response(StatusCode::OK, json!({ "quota_set": set })))
}

/// `DELETE /os-quota-sets/{project}` (admin): back to the defaults.
async fn quota_delete(req: Req, Path(t): Path<Target>) -> Res {
    req.require_admin("volume_extension:quotas:delete")?;
    req.ctx.site.data.lock().volume.quotas.reset(&t.target);
    Ok(StatusCode::OK.into_response())
}
