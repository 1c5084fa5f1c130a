//! Projects and the one domain, `default`.

use super::fields::{entity, opt_bool, opt_name, opt_str, opt_strings, required, Object};
use super::{
    err, filter_bool, filter_eq, internal, links, require_admin, revoke_subject, views, Res,
};
use crate::auth::Caller;
use crate::bootstrap::new_id;
use crate::Top;
use axum::extract::{Path, Query, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::keystone as ks;
use fedstack_api_types::ApiError;
use fedstack_store::identity::Project;
use fedstack_store::StoreError;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Keystone's 404 for a project.
pub fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find project: {id}."),
    )
}

/// Keystone's 404 for a domain.
pub fn domain_not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find domain: {id}."),
    )
}

/// A project that must exist.
async fn found(top: &Top, id: &str) -> Result<Project, ApiError> {
    top.store
        .project(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(id))
}

/// True when a project matches the list filters Keystone supports here.
fn listed(q: &HashMap<String, String>, p: &Project) -> bool {
    let tags = |key: &str, all: bool| {
        q.get(key).is_none_or(|want| {
            let has = |t: &str| p.tags.iter().any(|x| x == t);
            if all {
                want.split(',').all(has)
            } else {
                want.split(',').any(has)
            }
        })
    };
    filter_eq(q, "name", &p.name)
        && filter_eq(q, "domain_id", ks::DEFAULT_DOMAIN.0)
        && filter_eq(q, "parent_id", ks::DEFAULT_DOMAIN.0)
        && filter_bool(q, "is_domain", false)
        && filter_bool(q, "enabled", p.enabled)
        && tags("tags", true)
        && tags("tags-any", false)
}

/// `GET /v3/projects` (admin), filtered by name, enabled, domain, tags.
pub async fn list(
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&c, "list_projects")?;
    let all = c.top.store.projects().await.map_err(internal)?;
    let items: Vec<Value> = all
        .iter()
        .filter(|p| listed(&q, p))
        .map(|p| views::project(&c.top, p))
        .collect();
    let l = links(&c.top, "/projects", raw.as_deref());
    Ok(Json(json!({"projects": items, "links": l})).into_response())
}

/// Refuses a `domain_id` other than the default domain's.
fn check_domain(p: &Object) -> Result<(), ApiError> {
    match opt_str(p, "domain_id")? {
        Some(d) if d != ks::DEFAULT_DOMAIN.0 => Err(err(
            StatusCode::BAD_REQUEST,
            format!("Could not find domain: {d}."),
        )),
        _ => Ok(()),
    }
}

/// Keystone's 409 when a new project's name is taken.
async fn name_taken(top: &Top, name: &str) -> ApiError {
    let id = match top.store.project_by_name(name).await {
        Ok(Some(p)) => p.id,
        _ => String::new(),
    };
    err(
        StatusCode::CONFLICT,
        format!("Conflict occurred attempting to store project - it is not permitted to have two projects with either the same name or same id in the same domain: name is {name}, project id {id}."),
    )
}

/// `POST /v3/projects`.
pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    require_admin(&c, "create_project")?;
    let p = entity(&body, "project")?;
    let name = opt_name(p, "name")?.ok_or_else(|| required("name"))?;
    check_domain(p)?;
    let project = Project {
        id: new_id(),
        name: name.into(),
        description: opt_str(p, "description")?.unwrap_or_default().into(),
        enabled: opt_bool(p, "enabled")?.unwrap_or(true),
        tags: opt_strings(p, "tags")?.unwrap_or_default(),
    };
    match c.top.store.create_project(&project).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(name_taken(&c.top, name).await),
        Err(e) => return Err(internal(e)),
    }
    let v = views::project(&c.top, &project);
    Ok((StatusCode::CREATED, Json(json!({ "project": v }))).into_response())
}

/// `GET /v3/projects/{id}`: admins, and members of that project.
pub async fn show(c: Caller, Path(id): Path<String>) -> Res {
    if !c.is_admin() && c.project_id() != id {
        return Err(ks::forbidden("get_project"));
    }
    let p = found(&c.top, &id).await?;
    Ok(Json(json!({"project": views::project(&c.top, &p)})).into_response())
}

/// `PATCH /v3/projects/{id}`: disabling a project revokes its tokens.
pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&c, "update_project")?;
    let b = entity(&body, "project")?;
    let name = opt_name(b, "name")?;
    let description = opt_str(b, "description")?;
    let enabled = opt_bool(b, "enabled")?;
    let tags = opt_strings(b, "tags")?;
    check_domain(b)?;
    let mut p = found(&c.top, &id).await?;
    let was_enabled = p.enabled;
    if let Some(n) = name {
        p.name = n.into();
    }
    if let Some(d) = description {
        p.description = d.into();
    }
    if let Some(e) = enabled {
        p.enabled = e;
    }
    if let Some(t) = tags {
        p.tags = t;
    }
    match c.top.store.update_project(&p).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {}.", p.name),
            ))
        }
        Err(e) => return Err(internal(e)),
    }
    if was_enabled && !p.enabled {
        revoke_subject(&c.top, format!("project:{id}")).await?;
    }
    let mut v = views::project(&c.top, &p);
    v["extra"] = json!({});
    Ok(Json(json!({ "project": v })).into_response())
}

/// `DELETE /v3/projects/{id}`: its grants go, its tokens are revoked.
pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "delete_project")?;
    if !c.top.store.delete_project(&id).await.map_err(internal)? {
        return Err(not_found(&id));
    }
    revoke_subject(&c.top, format!("project:{id}")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v3/auth/domains`.
pub async fn auth_domains(c: Caller) -> Res {
    let l = links(&c.top, "/auth/domains", None);
    Ok(Json(json!({"domains": [ks::domain(&c.top.auth_url())], "links": l})).into_response())
}

/// `GET /v3/domains` (admin), filtered by name or enabled.
pub async fn list_domains(
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&c, "list_domains")?;
    let listed = filter_eq(&q, "name", ks::DEFAULT_DOMAIN.1) && filter_bool(&q, "enabled", true);
    let items: Vec<Value> = if listed {
        vec![ks::domain(&c.top.auth_url())]
    } else {
        vec![]
    };
    let l = links(&c.top, "/domains", raw.as_deref());
    Ok(Json(json!({"domains": items, "links": l})).into_response())
}

/// `GET /v3/domains/{id}`.
pub async fn show_domain(c: Caller, Path(id): Path<String>) -> Res {
    if id != ks::DEFAULT_DOMAIN.0 {
        return Err(domain_not_found(&id));
    }
    Ok(Json(json!({"domain": ks::domain(&c.top.auth_url())})).into_response())
}
