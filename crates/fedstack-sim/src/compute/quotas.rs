//! Compute quotas (`os-quota-sets`), their enforcement, and `limits`.

use super::{bad_request, empty, forbidden, policy, require_admin, ComputeData, Res, JSON};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// One compute quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Cores,
    FixedIps,
    FloatingIps,
    InjectedFileContentBytes,
    InjectedFilePathBytes,
    InjectedFiles,
    Instances,
    KeyPairs,
    MetadataItems,
    Ram,
    SecurityGroupRules,
    SecurityGroups,
    ServerGroupMembers,
    ServerGroups,
}

impl QuotaKind {
    /// Every quota, in the order Nova lists them.
    const ALL: [QuotaKind; 14] = [
        QuotaKind::Cores,
        QuotaKind::FixedIps,
        QuotaKind::FloatingIps,
        QuotaKind::InjectedFileContentBytes,
        QuotaKind::InjectedFilePathBytes,
        QuotaKind::InjectedFiles,
        QuotaKind::Instances,
        QuotaKind::KeyPairs,
        QuotaKind::MetadataItems,
        QuotaKind::Ram,
        QuotaKind::SecurityGroupRules,
        QuotaKind::SecurityGroups,
        QuotaKind::ServerGroupMembers,
        QuotaKind::ServerGroups,
    ];

    /// The key in a `quota_set`.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Cores => "cores",
            QuotaKind::FixedIps => "fixed_ips",
            QuotaKind::FloatingIps => "floating_ips",
            QuotaKind::InjectedFileContentBytes => "injected_file_content_bytes",
            QuotaKind::InjectedFilePathBytes => "injected_file_path_bytes",
            QuotaKind::InjectedFiles => "injected_files",
            QuotaKind::Instances => "instances",
            QuotaKind::KeyPairs => "key_pairs",
            QuotaKind::MetadataItems => "metadata_items",
            QuotaKind::Ram => "ram",
            QuotaKind::SecurityGroupRules => "security_group_rules",
            QuotaKind::SecurityGroups => "security_groups",
            QuotaKind::ServerGroupMembers => "server_group_members",
            QuotaKind::ServerGroups => "server_groups",
        }
    }

    /// Nova's default limit.
    fn default_limit(self) -> i64 {
        match self {
            QuotaKind::Cores => 20,
            QuotaKind::InjectedFileContentBytes => 10240,
            QuotaKind::InjectedFilePathBytes => 255,
            QuotaKind::InjectedFiles => 5,
            QuotaKind::Instances => 10,
            QuotaKind::KeyPairs => 100,
            QuotaKind::MetadataItems => 128,
            QuotaKind::Ram => 51200,
            QuotaKind::ServerGroupMembers | QuotaKind::ServerGroups => 10,
            QuotaKind::FixedIps
            | QuotaKind::FloatingIps
            | QuotaKind::SecurityGroupRules
            | QuotaKind::SecurityGroups => -1,
        }
    }

    /// False for the quotas removed at `mv` (network proxies at 2.36, files at 2.57).
    fn shown_at(self, mv: Mv) -> bool {
        match self {
            QuotaKind::FixedIps
            | QuotaKind::FloatingIps
            | QuotaKind::SecurityGroupRules
            | QuotaKind::SecurityGroups => !mv.at_least(2, 36),
            QuotaKind::InjectedFileContentBytes
            | QuotaKind::InjectedFilePathBytes
            | QuotaKind::InjectedFiles => !mv.at_least(2, 57),
            _ => true,
        }
    }

    fn shown(mv: Mv) -> impl Iterator<Item = QuotaKind> {
        Self::ALL.into_iter().filter(move |k| k.shown_at(mv))
    }
}

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
        let Some(first) = over.first() else {
            return Ok(());
        };
        let names: Vec<&str> = over.iter().map(|k| k.key()).collect();
        let names = names.join(", ");
        Err(forbidden(format!(
            "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
            want.get(*first).unwrap_or(0),
            used.get(*first).unwrap_or(0),
            self.limit(project_id, *first)
        )))
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
    QuotaKind::shown(mv)
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
    for k in QuotaKind::shown(mv) {
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
    for k in QuotaKind::shown(mv) {
        set.insert(k.key().into(), json!(k.default_limit()));
    }
    Ok(Json(json!({ "quota_set": set })).into_response())
}

fn update_schema(mv: Mv) -> Value {
    let value = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 2147483647});
    let mut props: Map<String, Value> = QuotaKind::shown(mv)
        .map(|k| (k.key().to_string(), value.clone()))
        .collect();
    props.insert("force".into(), schema::boolean());
    json!({
        "type": "object",
        "properties": {"quota_set": {"type": "object", "properties": props, "additionalProperties": false}},
        "required": ["quota_set"],
        "additionalProperties": false,
    })
}

async fn update(ctx: Ctx, mv: Mv, Path(project): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "os_compute_api:os-quota-sets:update")?;
    validate(&update_schema(mv), &body)?;
    let set = &body["quota_set"];
    let force = set.get("force").is_some_and(schema::truthy);
    let mut g = ctx.site.data.lock();
    let compute = &mut g.compute;
    let mut changes = Vec::new();
    for k in QuotaKind::shown(mv) {
        let Some(limit) = set.get(k.key()).and_then(schema::as_int) else {
            continue;
        };
        let used = compute.in_use(&project, k);
        if !force && limit >= 0 && limit < used {
            return Err(bad_request(format!(
                "Quota limit {limit} for {} must be greater than or equal to already used and reserved {used}.",
                k.key()
            )));
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
    let limit = |k| json!(c.quotas.limit(&project, k));
    let used = |k| json!(c.in_use(&project, k));
    let mut a = Map::new();
    a.insert("maxTotalCores".into(), limit(QuotaKind::Cores));
    if !mv.at_least(2, 57) {
        a.insert("maxPersonality".into(), limit(QuotaKind::InjectedFiles));
        a.insert(
            "maxPersonalitySize".into(),
            limit(QuotaKind::InjectedFileContentBytes),
        );
    }
    a.insert("maxTotalInstances".into(), limit(QuotaKind::Instances));
    a.insert("maxTotalKeypairs".into(), limit(QuotaKind::KeyPairs));
    a.insert("maxServerMeta".into(), limit(QuotaKind::MetadataItems));
    if !mv.at_least(2, 39) {
        a.insert("maxImageMeta".into(), limit(QuotaKind::MetadataItems));
    }
    a.insert("maxTotalRAMSize".into(), limit(QuotaKind::Ram));
    a.insert("maxServerGroups".into(), limit(QuotaKind::ServerGroups));
    a.insert(
        "maxServerGroupMembers".into(),
        limit(QuotaKind::ServerGroupMembers),
    );
    let proxies = !mv.at_least(2, 36);
    if proxies {
        a.insert("maxTotalFloatingIps".into(), limit(QuotaKind::FloatingIps));
        a.insert("maxSecurityGroups".into(), limit(QuotaKind::SecurityGroups));
        a.insert(
            "maxSecurityGroupRules".into(),
            limit(QuotaKind::SecurityGroupRules),
        );
    }
    a.insert("totalRAMUsed".into(), used(QuotaKind::Ram));
    a.insert("totalCoresUsed".into(), used(QuotaKind::Cores));
    a.insert("totalInstancesUsed".into(), used(QuotaKind::Instances));
    if proxies {
        a.insert("totalFloatingIpsUsed".into(), json!(0));
        a.insert("totalSecurityGroupsUsed".into(), json!(0));
    }
    a.insert(
        "totalServerGroupsUsed".into(),
        used(QuotaKind::ServerGroups),
    );
    Ok(Json(json!({"limits": {"rate": [], "absolute": a}})).into_response())
}
