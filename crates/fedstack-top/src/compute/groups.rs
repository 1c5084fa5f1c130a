//! Server groups across sites: affinity keeps members on one site, anti-affinity spreads them
//! over distinct sites (placement enforces both); on each site a group with the same policy
//! holds that site's members, so the site applies the policy among its hosts too.

use super::{err, store_err, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::Top;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::{Mv, OsJson};
use fedstack_api_types::nova::{self, ServerGroupView};
use fedstack_api_types::pyrepr::repr;
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::servers::ServerGroup;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const POLICIES: [&str; 4] = [
    "anti-affinity",
    "affinity",
    "soft-anti-affinity",
    "soft-affinity",
];

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/os-server-groups", get(list).post(create))
        .route("/v2.1/os-server-groups/{id}", get(show).delete(delete))
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Instance group {id} could not be found."),
    )
}

/// A group the caller may use: its project's, or any for an admin.
pub async fn owned(c: &Caller, id: &str) -> Result<ServerGroup, ApiError> {
    let g = c.top.store.server_group(id).await.map_err(store_err)?;
    g.filter(|g| c.is_admin() || g.project_id == c.project_id())
        .ok_or_else(|| not_found(id))
}

async fn render(top: &Top, g: &ServerGroup, mv: Microversion) -> Result<Value, ApiError> {
    let members = top.store.group_members(&g.id).await.map_err(store_err)?;
    let view = ServerGroupView {
        id: &g.id,
        name: &g.name,
        policy: &g.policy,
        rules: &g.rules,
        members: &members,
        project_id: &g.project_id,
        user_id: &g.user_id,
    };
    Ok(nova::server_group(&view, mv))
}

async fn list(c: Caller, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    let all = q.as_deref().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "all_projects" && v != "false" && v != "0")
    });
    let project = if all && c.is_admin() {
        None
    } else {
        Some(c.project_id())
    };
    let groups = c
        .top
        .store
        .server_groups(project)
        .await
        .map_err(store_err)?;
    let mut items = Vec::with_capacity(groups.len());
    for g in &groups {
        items.push(render(&c.top, g, mv).await?);
    }
    Ok(Json(json!({ "server_groups": items })).into_response())
}

async fn show(c: Caller, Mv(mv): Mv, Path(id): Path<String>) -> Res {
    let g = owned(&c, &id).await?;
    Ok(Json(json!({"server_group": render(&c.top, &g, mv).await?})).into_response())
}

fn bad(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

async fn create(c: Caller, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    let sg = body.get("server_group").filter(|v| v.is_object()).ok_or_else(|| bad(format!("Invalid input for field/attribute server_group. Value: {}. 'server_group' is a required property", repr(&body))))?;
    let name = sg
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| {
            bad("Invalid input for field/attribute name. 'name' is a required property")
        })?;
    let (policy, rules) = if mv.at_least(2, 64) {
        let p = sg.get("policy").and_then(Value::as_str).ok_or_else(|| {
            bad("Invalid input for field/attribute server_group. 'policy' is a required property")
        })?;
        (
            p.to_string(),
            sg.get("rules").cloned().unwrap_or_else(|| json!({})),
        )
    } else {
        let ps = sg.get("policies").and_then(Value::as_array).ok_or_else(|| bad("Invalid input for field/attribute server_group. 'policies' is a required property"))?;
        let p = ps.first().and_then(Value::as_str).unwrap_or_default();
        if ps.len() != 1 {
            return Err(bad(format!("Invalid input for field/attribute policies. Value: {}. It must hold exactly one policy", repr(&Value::Array(ps.clone())))));
        }
        (p.to_string(), json!({}))
    };
    let allowed: &[&str] = if mv.at_least(2, 15) {
        &POLICIES
    } else {
        &POLICIES[..2]
    };
    if !allowed.contains(&policy.as_str()) {
        let list = allowed
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let field = if mv.at_least(2, 64) { "policy" } else { "0" };
        return Err(bad(format!("Invalid input for field/attribute {field}. Value: {policy}. '{policy}' is not one of [{list}]")));
    }
    let g = ServerGroup {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: c.project_id().to_string(),
        user_id: c.user_id().to_string(),
        name: name.to_string(),
        policy,
        rules,
    };
    c.top
        .store
        .create_server_group(&g)
        .await
        .map_err(store_err)?;
    Ok(Json(json!({"server_group": render(&c.top, &g, mv).await?})).into_response())
}

async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let g = owned(&c, &id).await?;
    c.top
        .store
        .delete_server_group(&g.id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The site's group standing for a top group, made on first need in the tenant's project.
pub async fn ensure_on_site(
    top: &Top,
    g: &ServerGroup,
    site: &SiteHandle,
    site_project: &str,
) -> Result<String, ApiError> {
    if let Some(id) = top
        .store
        .site_server_group(&g.id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(id);
    }
    let lock = top.lock_for(&format!("group/{}/{}", g.id, site.id()));
    let _guard = lock.lock().await;
    if let Some(id) = top
        .store
        .site_server_group(&g.id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(id);
    }
    let body = json!({"server_group": {"name": super::translate::site_name(&g.name, &g.id), "policies": [g.policy]}});
    let req = super::with_mv(
        SiteRequest::new(
            Method::POST,
            "compute",
            "/os-server-groups",
            Scope::Project(site_project.to_string()),
        )
        .json(&body),
        Microversion::new(2, 15),
    );
    let created = site
        .client
        .json(req)
        .await
        .map_err(|e| site_error(Service::Compute, site, e))?;
    let id = created
        .pointer("/server_group/id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    top.store
        .set_site_server_group(&g.id, site.id(), &id)
        .await
        .map_err(store_err)?;
    Ok(id)
}
