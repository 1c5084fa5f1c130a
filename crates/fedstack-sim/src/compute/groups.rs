//! Server groups (`os-server-groups`): policies (2.64: `policy` and `rules`), membership, and
//! what they ask of the scheduler.

use super::hosts::Placement;
use super::quotas::QuotaKind;
use super::{bad_request, empty, forbidden, not_found, Res, JSON};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::nova::{self, ServerGroupView};
use fedstack_api_types::ApiError;
use indexmap::IndexMap;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// A server group.
#[derive(Debug, Clone)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub user_id: String,
    pub policy: String,
    pub max_server_per_host: Option<i64>,
    /// Member server IDs, in the order they joined.
    pub members: Vec<String>,
}

impl ServerGroup {
    /// The group as Nova shows it at `mv`.
    fn view(&self, mv: Mv) -> Value {
        let rules = match self.max_server_per_host {
            Some(n) => json!({ "max_server_per_host": n }),
            None => json!({}),
        };
        let view = ServerGroupView {
            id: &self.id,
            name: &self.name,
            policy: &self.policy,
            rules: &rules,
            members: &self.members,
            project_id: &self.project_id,
            user_id: &self.user_id,
        };
        nova::server_group(&view, mv.0)
    }

    /// What the policy asks of the scheduler.
    pub fn placement(&self) -> Placement {
        match self.policy.as_str() {
            "affinity" => Placement::Affinity,
            "soft-affinity" => Placement::SoftAffinity,
            "soft-anti-affinity" => Placement::SoftAntiAffinity,
            _ => Placement::AntiAffinity {
                max_per_host: self.max_server_per_host.unwrap_or(1).max(1) as usize,
            },
        }
    }
}

/// The server groups of a site, in creation order.
#[derive(Debug, Default)]
pub struct ServerGroups {
    by_id: IndexMap<String, ServerGroup>,
}

impl ServerGroups {
    /// How many groups a project has.
    pub fn count(&self, project_id: &str) -> usize {
        self.by_id
            .values()
            .filter(|g| g.project_id == project_id)
            .count()
    }

    /// A group the project may use (admins: any).
    pub fn visible(&self, id: &str, project_id: &str, is_admin: bool) -> Option<&ServerGroup> {
        self.by_id
            .get(id)
            .filter(|g| is_admin || g.project_id == project_id)
    }

    /// Adds a server to a group.
    pub fn add_member(&mut self, id: &str, server_id: &str) {
        if let Some(g) = self.by_id.get_mut(id) {
            g.members.push(server_id.to_string());
        }
    }

    /// Removes a deleted server from its group.
    pub fn remove_member(&mut self, id: &str, server_id: &str) {
        if let Some(g) = self.by_id.get_mut(id) {
            g.members.retain(|m| m != server_id);
        }
    }
}

/// Nova's 404 for an unknown group.
pub fn group_not_found(id: &str) -> ApiError {
    not_found(format!("Instance group {id} could not be found."))
}

/// The server group routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/os-server-groups", get(list).post(create))
        .route("/v2.1/os-server-groups/{id}", get(show).delete(delete))
}

fn policies(mv: Mv) -> Value {
    if mv.at_least(2, 15) {
        json!([
            "anti-affinity",
            "affinity",
            "soft-anti-affinity",
            "soft-affinity"
        ])
    } else {
        json!(["anti-affinity", "affinity"])
    }
}

fn create_schema(mv: Mv) -> Value {
    let group = if mv.at_least(2, 64) {
        json!({
            "type": "object",
            "properties": {
                "name": schema::name(),
                "policy": {"type": "string", "enum": policies(mv)},
                "rules": {
                    "type": "object",
                    "properties": {"max_server_per_host": schema::positive_integer()},
                    "additionalProperties": false,
                },
            },
            "required": ["name", "policy"],
            "additionalProperties": false,
        })
    } else {
        json!({
            "type": "object",
            "properties": {
                "name": schema::name(),
                "policies": {
                    "type": "array",
                    "items": {"type": "string", "enum": policies(mv)},
                    "uniqueItems": true,
                    "minItems": 1,
                    "maxItems": 1,
                },
            },
            "required": ["name", "policies"],
            "additionalProperties": false,
        })
    };
    json!({
        "type": "object",
        "properties": {"server_group": group},
        "required": ["server_group"],
        "additionalProperties": false,
    })
}

async fn create(ctx: Ctx, mv: Mv, OsJson(body): OsJson) -> Res {
    validate(&create_schema(mv), &body)?;
    let b = &body["server_group"];
    let policy = b["policy"]
        .as_str()
        .or_else(|| b["policies"][0].as_str())
        .unwrap_or("anti-affinity")
        .to_string();
    let max_server_per_host = b["rules"]
        .get("max_server_per_host")
        .and_then(schema::as_int);
    if max_server_per_host.is_some() && policy != "anti-affinity" {
        return Err(bad_request("Only anti-affinity policy supports rules."));
    }
    let group = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name: b["name"].as_str().unwrap_or_default().to_string(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        policy,
        max_server_per_host,
        members: Vec::new(),
    };
    let mut g = ctx.site.data.lock();
    let compute = &mut g.compute;
    let limit = compute
        .quotas
        .limit(ctx.project_id(), QuotaKind::ServerGroups);
    if limit >= 0 && compute.groups.count(ctx.project_id()) as i64 >= limit {
        return Err(forbidden("Quota exceeded, too many server groups."));
    }
    let answer = json!({"server_group": group.view(mv)});
    compute.groups.by_id.insert(group.id.clone(), group);
    Ok(Json(answer).into_response())
}

async fn list(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    let all = ctx.is_admin()
        && q.get("all_projects")
            .is_some_and(|v| schema::truthy(&json!(v)));
    let number = |k: &str| -> Result<Option<usize>, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse().map_err(|_| {
                    bad_request(format!(
                        "Invalid input for query parameters {k}. Value: {v}. '{v}' does not match '^[0-9]*$'"
                    ))
                })
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let limit = number("limit")?.unwrap_or(usize::MAX);
    let g = ctx.site.data.lock();
    let groups: Vec<Value> = g
        .compute
        .groups
        .by_id
        .values()
        .filter(|grp| all || grp.project_id == ctx.project_id())
        .skip(offset)
        .take(limit)
        .map(|grp| grp.view(mv))
        .collect();
    Ok(Json(json!({ "server_groups": groups })).into_response())
}

async fn show(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = ctx.site.data.lock();
    let group = g
        .compute
        .groups
        .visible(&id, ctx.project_id(), ctx.is_admin())
        .ok_or_else(|| group_not_found(&id))?;
    Ok(Json(json!({"server_group": group.view(mv)})).into_response())
}

async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let mut g = ctx.site.data.lock();
    let groups = &mut g.compute.groups;
    groups
        .visible(&id, ctx.project_id(), ctx.is_admin())
        .ok_or_else(|| group_not_found(&id))?;
    groups.by_id.shift_remove(&id);
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}
