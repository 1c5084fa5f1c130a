//! `/v2.0/quotas`: limits per project (defaults, admin overrides), usage details, and the
//! usage check Neutron makes before lowering a limit.

use super::body::{invalid_attr, py, Attrs};
use super::{no_content, ok, Caller, Res};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{default_quota, QuotaSet, Resource};
use crate::network::ops::neutron_error;
use axum::extract::Path;
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};

fn quota_json(q: &QuotaSet) -> Map<String, Value> {
    Resource::ALL
        .iter()
        .map(|r| (r.name().to_string(), json!(q[r.index()])))
        .collect()
}

fn admin_required() -> ApiError {
    neutron_error(
        403,
        "AdminRequired",
        "User does not have admin privileges: Only admin can view or configure quota.",
    )
}

/// Non-admins may only look at their own project.
fn check_access(c: &Caller, project: &str) -> Result<(), ApiError> {
    if c.owns(project) {
        Ok(())
    } else {
        Err(neutron_error(403, "NotAuthorized", "Not authorized."))
    }
}

/// `GET /v2.0/quotas` (admin): the projects with limits set.
pub async fn list(ctx: Ctx) -> Res {
    let c = Caller::of(&ctx);
    if !c.admin {
        return Err(admin_required());
    }
    let g = ctx.site.data.lock();
    let list: Vec<Value> = g
        .network
        .quotas
        .iter()
        .map(|(p, q)| {
            let mut m = quota_json(q);
            m.insert("project_id".into(), json!(p));
            m.insert("tenant_id".into(), json!(p));
            Value::Object(m)
        })
        .collect();
    Ok(ok(json!({ "quotas": list })))
}

/// `GET /v2.0/quotas/{project}`.
pub async fn show(ctx: Ctx, Path(project): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    check_access(&c, &project)?;
    let g = ctx.site.data.lock();
    Ok(ok(json!({"quota": quota_json(&g.network.quota(&project))})))
}

/// `GET /v2.0/quotas/{project}/default`.
pub async fn defaults(ctx: Ctx, Path(project): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    check_access(&c, &project)?;
    Ok(ok(json!({"quota": quota_json(&default_quota())})))
}

/// `GET /v2.0/quotas/{project}/details`: limits with usage.
pub async fn details(ctx: Ctx, Path(project): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    check_access(&c, &project)?;
    let g = ctx.site.data.lock();
    let d = &g.network;
    let q = d.quota(&project);
    let m: Map<String, Value> = Resource::ALL
        .iter()
        .map(|r| {
            let used = d.used(&project, *r);
            (
                r.name().to_string(),
                json!({"limit": q[r.index()], "used": used, "reserved": 0}),
            )
        })
        .collect();
    Ok(ok(json!({ "quota": m })))
}

/// The limits of an update body, checked.
fn parse_limits(a: &Attrs) -> Result<Vec<(Resource, i64)>, ApiError> {
    Resource::ALL
        .iter()
        .filter_map(|r| a.raw(r.name()).map(|v| (*r, v)))
        .map(|(r, v)| {
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| invalid_attr(r.name(), format!("'{}' is not an integer", py(v))))?;
            if n < -1 {
                return Err(invalid_attr(
                    r.name(),
                    format!("'{n}' is too small - must be at least '-1'"),
                ));
            }
            Ok((r, n))
        })
        .collect()
}

/// `PUT /v2.0/quotas/{project}` (admin).
pub async fn update(ctx: Ctx, Path(project): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "quota")?;
    let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
    a.check(&names, &names, false)?;
    if !c.admin {
        return Err(admin_required());
    }
    let limits = parse_limits(&a)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    for (r, n) in &limits {
        let used = d.used(&project, *r);
        if *n >= 0 && (*n as u64) < used {
            return Err(neutron_error(
                400,
                "BadRequest",
                fedstack_api_types::neutron::below_usage_message(r.name(), *n, used as i64),
            ));
        }
    }
    let mut q = d.quota(&project);
    for (r, n) in limits {
        q[r.index()] = n;
    }
    d.quotas.insert(project, q);
    Ok(ok(json!({"quota": quota_json(&q)})))
}

/// `DELETE /v2.0/quotas/{project}` (admin): back to the defaults.
pub async fn reset(ctx: Ctx, Path(project): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    if !c.admin {
        return Err(admin_required());
    }
    ctx.site.data.lock().network.quotas.remove(&project);
    Ok(no_content())
}
