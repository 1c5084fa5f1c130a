//! Compute quotas (`os-quota-sets`), their enforcement, and `limits`.

use super::{bad_request, empty, forbidden, policy, require_admin, ComputeData, Res, JSON};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova::quota;
pub use fedstack_api_types::nova::quota::QuotaKind;
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// What a project's servers use.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
}

impl Usage {
    fn get(&self, kind: QuotaKind) -> Option<i64> {
        match kind {
            QuotaKind::Instances => Some(self.instances),
            QuotaKind::Cores => Some(self.cores),
            QuotaKind::Ram => Some(self.ram),
            _ => None,
        }
    }
}

/// Per-project quota overrides (defaults otherwise).
#[derive(Debug, Default)]
pub struct Quotas {
    overrides: HashMap<String, HashMap<QuotaKind, i64>>,
}

impl Quotas {
    /// The limit of `kind` for `project_id` (-1 = unlimited).
    pub fn limit(&self, project_id: &str, kind: QuotaKind) -> i64 {
        self.overrides
            .get(project_id)
            .and_then(|o| o.get(&kind))
            .copied()
            .unwrap_or_else(|| kind.default_limit())
    }

    /// Nova's 403 when adding `want` to `used` goes over a limit:
    /// "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances".
    pub fn check_servers(
        &self,
        project_id: &str,
        used: Usage,
        want: Usage,
    ) -> Result<(), ApiError> {
        let over: Vec<QuotaKind> = [QuotaKind::Cores, QuotaKind::Instances, QuotaKind::Ram]
            .into_iter()
            .filter(|k| {
                let limit = self.limit(project_id, *k);
                let (u, w) = (used.get(*k).unwrap_or(0), want.get(*k).unwrap_or(0));
                limit >= 0 && w > 0 && u + w > limit
            })
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        let over: Vec<quota::Over> = over
            .into_iter()
            .map(|k| quota::Over {
                kind: k,
                requested: want.get(k).unwrap_or(0),
                used: used.get(k).unwrap_or(0),
                limit: self.limit(project_id, k),
            })
            .collect();
        Err(forbidden(quota::over_quota_message(&over)))
    }
}

impl ComputeData {
    /// What `project_id` uses of `kind` now.
    fn in_use(&self, project_id: &str, kind: QuotaKind) -> i64 {
        match kind {
            QuotaKind::ServerGroups => self.groups.count(project_id) as i64,
            k => self.servers.usage(project_id).get(k).unwrap_or(0),
        }
    }
}

/// The quota and limits routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(show).put(update).delete(revert),
        )
        .route("/v2.1/os-quota-sets/{project}/detail", get(detail))
        .route("/v2.1/os-quota-sets/{project}/defaults", get(defaults))
        .route("/v2.1/limits", get(limits))
}

/// Members may only look at their own project.
fn may_read(ctx: &Ctx, project: &str, rule: &str) -> Result<(), ApiError> {
    if ctx.is_admin() || ctx.project_id() == project {
        Ok(())
    } else {
        Err(policy(&format!("os_compute_api:os-quota-sets:{rule}")))
    }
}

fn limits_of(compute: &ComputeData, project: &str, mv: Mv) -> Map<String, Value> {
    QuotaKind::shown(mv.0)
        .map(|k| (k.key().to_string(), json!(compute.quotas.limit(project, k))))
        .collect()
}

async fn show(ctx: Ctx, mv: Mv, Path(project): Path<String>) -> Res {
    may_read(&ctx, &project, "show")?;
    let g = ctx.site.data.lock();
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    set.extend(limits_of(&g.compute, &project, mv));
    Ok(Json(json!({ "quota_set": set })).into_response())
}

async fn detail(ctx: Ctx, mv: Mv, Path(project): Path<String>) -> Res {
    may_read(&ctx, &project, "detail")?;
    let g = ctx.site.data.lock();
    let compute = &g.compute;
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for k in QuotaKind::shown(mv.0) {
        set.insert(
            k.key().into(),
            json!({"limit": compute.quotas.limit(&project, k), "in_use": compute.in_use(&project, k), "reserved": 0}),
        );
    }
    Ok(Json(json!({ "quota_set": set })).into_response())
}

async fn defaults(mv: Mv, _ctx: Ctx, Path(project): Path<String>) -> Res {
    let mut set = Map::new();
    set.insert("id".into(), json!(project));
    for k in QuotaKind::shown(mv.0) {
        set.insert(k.key().into(), json!(k.default_limit()));
    }
    Ok(Json(json!({ "quota_set": set })).into_response())
}

async fn update(ctx: Ctx, mv: Mv, Path(project): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "os_compute_api:os-quota-sets:update")?;
    validate(&quota::update_schema(mv.0), &body)?;
    let set = &body["quota_set"];
    let force = set.get("force").is_some_and(schema::truthy);
    let mut g = ctx.site.data.lock();
    let compute = &mut g.compute;
    let mut changes = Vec::new();
    for k in QuotaKind::shown(mv.0) {
        let Some(limit) = set.get(k.key()).and_then(schema::as_int) else {
            continue;
        };
        let used = compute.in_use(&project, k);
        if !force && limit >= 0 && limit < used {
            return Err(bad_request(quota::below_usage_message(k, limit, used)));
        }
        changes.push((k, limit));
    }
    let overrides = compute.quotas.overrides.entry(project.clone()).or_default();
    overrides.extend(changes);
    Ok(Json(json!({ "quota_set": limits_of(compute, &project, mv) })).into_response())
}

async fn revert(ctx: Ctx, Path(project): Path<String>) -> Res {
    require_admin(&ctx, "os_compute_api:os-quota-sets:delete")?;
    ctx.site
        .data
        .lock()
        .compute
        .quotas
        .overrides
        .remove(&project);
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

/// `GET /limits`: the absolute limits and what the project uses (admins may pass
/// `tenant_id`).
async fn limits(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    let project = match q.get("tenant_id") {
        Some(p) if ctx.is_admin() => p.clone(),
        _ => ctx.project_id().to_string(),
    };
    let g = ctx.site.data.lock();
    let c = &g.compute;
    let a = quota::absolute_limits(
        mv.0,
        |k| c.quotas.limit(&project, k),
        |k| match k {
            QuotaKind::FloatingIps | QuotaKind::SecurityGroups => 0,
            k => c.in_use(&project, k),
        },
    );
    Ok(Json(json!({"limits": {"rate": [], "absolute": a}})).into_response())
}
