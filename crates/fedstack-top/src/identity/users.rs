//! Users (all in the default domain), their passwords and their projects.

use super::fields::{
    entity, opt_bool, opt_name, opt_str, patch_str, required, required_str, Object,
};
use super::{
    check_secret, err, filter_bool, filter_eq, hash_secret, internal, links, require_admin,
    revoke_subject, unauthorized, views, Res,
};
use crate::auth::Caller;
use crate::bootstrap::new_id;
use crate::Top;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::keystone as ks;
use fedstack_api_types::ApiError;
use fedstack_store::identity::{Project, User};
use fedstack_store::StoreError;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Keystone's 404 for a user.
pub fn not_found(id: &str) -> ApiError {
    err(StatusCode::NOT_FOUND, format!("Could not find user: {id}."))
}

fn name_taken(name: &str) -> ApiError {
    err(
        StatusCode::CONFLICT,
        format!("Conflict occurred attempting to store user - Duplicate entry found with name {name} at domain ID default."),
    )
}

/// Maps a store error of a user write: a taken name is Keystone's 409.
fn write_err(e: StoreError, name: &str) -> ApiError {
    match e {
        StoreError::Conflict(_) => name_taken(name),
        other => internal(other),
    }
}

/// A user that must exist.
async fn found(top: &Top, id: &str) -> Result<User, ApiError> {
    top.store
        .user(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(id))
}

/// Refuses a `domain_id` other than the default domain's.
fn check_domain(u: &Object) -> Result<(), ApiError> {
    match opt_str(u, "domain_id")? {
        Some(d) if d != ks::DEFAULT_DOMAIN.0 => Err(super::projects::domain_not_found(d)),
        _ => Ok(()),
    }
}

/// `GET /v3/users` (admin), filtered by name, enabled or domain.
pub async fn list(
    c: Caller,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&c, "list_users")?;
    let mut all = c.top.store.users().await.map_err(internal)?;
    if !filter_eq(&q, "domain_id", ks::DEFAULT_DOMAIN.0) {
        all.clear();
    }
    let items: Vec<Value> = all
        .iter()
        .filter(|u| filter_eq(&q, "name", &u.name))
        .filter(|u| filter_bool(&q, "enabled", u.enabled))
        .map(|u| views::user(&c.top, u))
        .collect();
    let l = links(&c.top, "/users", raw.as_deref());
    Ok(Json(json!({"users": items, "links": l})).into_response())
}

/// `POST /v3/users`.
pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    require_admin(&c, "create_user")?;
    let u = entity(&body, "user")?;
    let name = opt_name(u, "name")?.ok_or_else(|| required("name"))?;
    check_domain(u)?;
    let password_hash = match opt_str(u, "password")? {
        Some(pw) => hash_secret(pw).await?,
        None => String::new(),
    };
    let user = User {
        id: new_id(),
        name: name.into(),
        password_hash,
        description: opt_str(u, "description")?.map(String::from),
        email: opt_str(u, "email")?.map(String::from),
        enabled: opt_bool(u, "enabled")?.unwrap_or(true),
        default_project_id: opt_str(u, "default_project_id")?.map(String::from),
    };
    c.top
        .store
        .create_user(&user)
        .await
        .map_err(|e| write_err(e, name))?;
    let v = views::user(&c.top, &user);
    Ok((StatusCode::CREATED, Json(json!({ "user": v }))).into_response())
}

/// `GET /v3/users/{id}`: admins, and the user themself.
pub async fn show(c: Caller, Path(id): Path<String>) -> Res {
    if !c.is_admin() && c.user_id() != id {
        return Err(ks::forbidden("get_user"));
    }
    let u = found(&c.top, &id).await?;
    Ok(Json(json!({"user": views::user(&c.top, &u)})).into_response())
}

/// `PATCH /v3/users/{id}`: a new password or disabling the user revokes their tokens.
pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&c, "update_user")?;
    let b = entity(&body, "user")?;
    let name = opt_name(b, "name")?;
    let password = opt_str(b, "password")?;
    let description = patch_str(b, "description")?;
    let email = patch_str(b, "email")?;
    let default_project_id = patch_str(b, "default_project_id")?;
    let enabled = opt_bool(b, "enabled")?;
    check_domain(b)?;
    let mut u = found(&c.top, &id).await?;
    let was_enabled = u.enabled;
    if let Some(n) = name {
        u.name = n.into();
    }
    if let Some(pw) = password {
        u.password_hash = hash_secret(pw).await?;
    }
    if let Some(d) = description {
        u.description = d;
    }
    if let Some(e) = email {
        u.email = e;
    }
    if let Some(p) = default_project_id {
        u.default_project_id = p;
    }
    if let Some(e) = enabled {
        u.enabled = e;
    }
    c.top
        .store
        .update_user(&u)
        .await
        .map_err(|e| write_err(e, &u.name))?;
    if password.is_some() || (was_enabled && !u.enabled) {
        revoke_subject(&c.top, format!("user:{id}")).await?;
    }
    Ok(Json(json!({"user": views::user(&c.top, &u)})).into_response())
}

/// `DELETE /v3/users/{id}`: the user's grants and application credentials go, their tokens
/// are revoked.
pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c, "delete_user")?;
    if !c.top.store.delete_user(&id).await.map_err(internal)? {
        return Err(not_found(&id));
    }
    revoke_subject(&c.top, format!("user:{id}")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v3/users/{id}/password` (no token: the original password proves the caller):
/// 204, and every token of the user is revoked.
pub async fn change_password(
    State(top): State<Arc<Top>>,
    Path(id): Path<String>,
    OsJson(body): OsJson,
) -> Res {
    let b = entity(&body, "user")?;
    let original = required_str(b, "original_password")?;
    let password = required_str(b, "password")?;
    let user = top.store.user(&id).await.map_err(internal)?;
    let Some(mut user) = user.filter(|u| u.enabled) else {
        return Err(unauthorized(&top));
    };
    if !check_secret(original, &user.password_hash).await? {
        return Err(unauthorized(&top));
    }
    user.password_hash = hash_secret(password).await?;
    top.store
        .update_user(&user)
        .await
        .map_err(|e| write_err(e, &user.name))?;
    revoke_subject(&top, format!("user:{id}")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The projects a user has a role on, by ID.
pub async fn projects_of(top: &Top, user_id: &str) -> Result<Vec<Project>, ApiError> {
    let ids: BTreeSet<String> = top
        .store
        .assignments(Some(user_id), None)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    let all = top.store.projects().await.map_err(internal)?;
    Ok(all.into_iter().filter(|p| ids.contains(&p.id)).collect())
}

/// `GET /v3/users/{id}/projects`: admins, and the user themself.
pub async fn projects(c: Caller, Path(id): Path<String>) -> Res {
    if !c.is_admin() && c.user_id() != id {
        return Err(ks::forbidden("list_user_projects"));
    }
    found(&c.top, &id).await?;
    let items: Vec<Value> = projects_of(&c.top, &id)
        .await?
        .iter()
        .map(|p| views::project(&c.top, p))
        .collect();
    let l = links(&c.top, &format!("/users/{id}/projects"), None);
    Ok(Json(json!({"projects": items, "links": l})).into_response())
}
