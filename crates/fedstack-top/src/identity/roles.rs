//! Roles, grants of a role to a user on a project, role assignments, and the effective roles
//! (implied ones included) that tokens carry.

use super::fields::{entity, required_str};
use super::{err, filter_eq, internal, links, require_admin, revoke_subject, views, Res};
use crate::auth::Caller;
use crate::bootstrap::new_id;
use crate::Top;
use axum::extract::{Path, Query, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::keystone::{self as ks, implied_roles};
use fedstack_api_types::ApiError;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// All roles, by ID.
pub async fn role_names(top: &Top) -> Result<HashMap<String, String>, ApiError> {
    Ok(top
        .store
        .roles()
        .await
        .map_err(internal)?
        .into_iter()
        .collect())
}

/// All roles, by name.
pub async fn role_ids(top: &Top) -> Result<HashMap<String, String>, ApiError> {
    Ok(top
        .store
        .roles()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(id, name)| (name, id))
        .collect())
}

/// The names of a user's effective roles on a project (implied roles included), sorted.
pub async fn effective_roles(
    top: &Top,
    user_id: &str,
    project_id: &str,
) -> Result<Vec<String>, ApiError> {
    let names = role_names(top).await?;
    let mut out = BTreeSet::new();
    let grants = top
        .store
        .assignments(Some(user_id), Some(project_id))
        .await
        .map_err(internal)?;
    for (_, _, role_id) in grants {
        if let Some(n) = names.get(&role_id) {
            out.insert(n.clone());
            out.extend(implied_roles(n).iter().map(|r| r.to_string()));
        }
    }
    let known: BTreeSet<&String> = names.values().collect();
    Ok(out.into_iter().filter(|n| known.contains(n)).collect())
}

/// Keystone's 404 for a role.
pub fn not_found(id: &str) -> ApiError {
    err(StatusCode::NOT_FOUND, format!("Could not find role: {id}."))
}

/// `GET /v3/roles`, filtered by `name`.
pub async fn list(
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&c, "list_roles")?;
    let mut roles: Vec<(String, String)> = c.top.store.roles().await.map_err(internal)?;
    roles.retain(|(_, name)| filter_eq(&q, "name", name));
    roles.sort();
    let items: Vec<Value> = roles
        .iter()
        .map(|(id, name)| views::role(&c.top, id, name))
        .collect();
    Ok(
        Json(json!({"roles": items, "links": links(&c.top, "/roles", raw.as_deref())}))
            .into_response(),
    )
}

/// `POST /v3/roles`.
pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    require_admin(&c, "create_role")?;
    let name = required_str(entity(&body, "role")?, "name")?;
    let conflict = || {
        err(
            StatusCode::CONFLICT,
            format!("Conflict occurred attempting to store role - Duplicate entry found with name {name}."),
        )
    };
    if role_ids(&c.top).await?.contains_key(name) {
        return Err(conflict());
    }
    let id = new_id();
    if c.top.store.ensure_role(&id, name).await.map_err(internal)? != id {
        return Err(conflict());
    }
    let v = views::role(&c.top, &id, name);
    Ok((StatusCode::CREATED, Json(json!({ "role": v }))).into_response())
}

/// `GET /v3/roles/{id}`.
pub async fn show(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "get_role")?;
    let names = role_names(&c.top).await?;
    let name = names.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(Json(json!({"role": views::role(&c.top, &id, name)})).into_response())
}

/// `DELETE /v3/roles/{id}`: the bootstrap roles are immutable; the tokens of the users who
/// held the role are revoked.
pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "delete_role")?;
    let names = role_names(&c.top).await?;
    let name = names.get(&id).ok_or_else(|| not_found(&id))?;
    if views::is_immutable_role(name) {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!("Unable to delete immutable role resource: `{id}. Set resource option \"immutable\" to false first."),
        ));
    }
    let holders: BTreeSet<String> = c
        .top
        .store
        .assignments(None, None)
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|(_, _, r)| *r == id)
        .map(|(u, _, _)| u)
        .collect();
    if !c.top.store.delete_role(&id).await.map_err(internal)? {
        return Err(not_found(&id));
    }
    for user in holders {
        revoke_subject(&c.top, format!("user:{user}")).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks that the role, user and project of a grant exist, in Keystone's order.
async fn check_grant_refs(top: &Top, pid: &str, uid: &str, rid: &str) -> Result<(), ApiError> {
    if !role_names(top).await?.contains_key(rid) {
        return Err(not_found(rid));
    }
    if top.store.user(uid).await.map_err(internal)?.is_none() {
        return Err(super::users::not_found(uid));
    }
    if top.store.project(pid).await.map_err(internal)?.is_none() {
        return Err(super::projects::not_found(pid));
    }
    Ok(())
}

fn grant_not_found(pid: &str, uid: &str, rid: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find role assignment with role: {rid}, user or group: {uid}, project, domain, or system: {pid}."),
    )
}

/// `PUT /v3/projects/{p}/users/{u}/roles/{r}`.
pub async fn grant(c: Caller, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&c, "create_grant")?;
    check_grant_refs(&c.top, &pid, &uid, &rid).await?;
    c.top
        .store
        .assign(&uid, &pid, &rid)
        .await
        .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `HEAD`/`GET /v3/projects/{p}/users/{u}/roles/{r}`: 204 when granted.
pub async fn check_grant(c: Caller, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&c, "check_grant")?;
    check_grant_refs(&c.top, &pid, &uid, &rid).await?;
    let grants = c
        .top
        .store
        .assignments(Some(&uid), Some(&pid))
        .await
        .map_err(internal)?;
    if !grants.iter().any(|(_, _, r)| *r == rid) {
        return Err(grant_not_found(&pid, &uid, &rid));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v3/projects/{p}/users/{u}/roles/{r}`: the user's tokens, which carry their
/// roles, are revoked.
pub async fn revoke_grant(c: Caller, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&c, "revoke_grant")?;
    check_grant_refs(&c.top, &pid, &uid, &rid).await?;
    if !c
        .top
        .store
        .unassign(&uid, &pid, &rid)
        .await
        .map_err(internal)?
    {
        return Err(grant_not_found(&pid, &uid, &rid));
    }
    revoke_subject(&c.top, format!("user:{uid}")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v3/projects/{p}/users/{u}/roles`: the roles granted directly.
pub async fn list_grants(c: Caller, Path((pid, uid)): Path<(String, String)>) -> Res {
    require_admin(&c, "list_grants")?;
    let names = role_names(&c.top).await?;
    let grants = c
        .top
        .store
        .assignments(Some(&uid), Some(&pid))
        .await
        .map_err(internal)?;
    let items: Vec<Value> = grants
        .iter()
        .filter_map(|(_, _, r)| names.get(r).map(|n| views::role(&c.top, r, n)))
        .collect();
    let path = format!("/projects/{pid}/users/{uid}/roles");
    Ok(Json(json!({"roles": items, "links": links(&c.top, &path, None)})).into_response())
}

/// Names for `include_names`: users, projects and roles by ID.
struct Names {
    users: HashMap<String, String>,
    projects: HashMap<String, String>,
    roles: HashMap<String, String>,
}

impl Names {
    async fn load(top: &Top) -> Result<Names, ApiError> {
        let s = &top.store;
        Ok(Names {
            users: s
                .users()
                .await
                .map_err(internal)?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
            projects: s
                .projects()
                .await
                .map_err(internal)?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            roles: role_names(top).await?,
        })
    }
}

/// One entry of `/v3/role_assignments`.
fn assignment(top: &Top, (u, p, r): &(String, String, String), names: Option<&Names>) -> Value {
    let mut project = json!({ "id": p });
    let mut user = json!({ "id": u });
    let mut role = json!({ "id": r });
    if let Some(n) = names {
        let dom = json!({"id": ks::DEFAULT_DOMAIN.0, "name": ks::DEFAULT_DOMAIN.1});
        project["name"] = json!(n.projects.get(p));
        project["domain"] = dom.clone();
        user["name"] = json!(n.users.get(u));
        user["domain"] = dom;
        role["name"] = json!(n.roles.get(r));
    }
    json!({
        "links": {"assignment": format!("{}/projects/{p}/users/{u}/roles/{r}", top.auth_url())},
        "scope": {"project": project}, "user": user, "role": role,
    })
}

/// `GET /v3/role_assignments`, filtered by `user.id`, `scope.project.id` and `role.id`; a
/// user may list their own.
pub async fn list_assignments(
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    let own = q.get("user.id").is_some_and(|u| u == c.user_id());
    if !c.is_admin() && !own {
        return Err(ks::forbidden("list_role_assignments"));
    }
    let with_names = q
        .get("include_names")
        .is_some_and(|v| v.is_empty() || super::fields::parse_bool(v) == Some(true));
    let names = if with_names {
        Some(Names::load(&c.top).await?)
    } else {
        None
    };
    let user = q.get("user.id").map(String::as_str);
    let project = q.get("scope.project.id").map(String::as_str);
    let grants = c
        .top
        .store
        .assignments(user, project)
        .await
        .map_err(internal)?;
    let items: Vec<Value> = grants
        .iter()
        .filter(|(_, _, r)| filter_eq(&q, "role.id", r))
        .map(|a| assignment(&c.top, a, names.as_ref()))
        .collect();
    let l = links(&c.top, "/role_assignments", raw.as_deref());
    Ok(Json(json!({"role_assignments": items, "links": l})).into_response())
}
