//! Application credentials: a user delegates some of their roles on a project to a
//! name and secret. Each user manages their own; the secret is shown once, at creation.

use super::fields::{entity, opt_bool, opt_objects, opt_str, required_str, Object};
use super::roles::{role_ids, role_names};
use super::{err, forbidden_action, hash_secret, internal, links, revoke_subject, views, Res};
use crate::auth::Caller;
use crate::bootstrap::new_id;
use crate::Top;
use axum::extract::{Path, Query, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::DateTime;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::keystone::{self as ks, implied_roles};
use fedstack_api_types::{time, ApiError};
use fedstack_store::identity::AppCredential;
use fedstack_store::{now_ms, StoreError};
use rand::RngCore;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// The part of Keystone's 400s that follows the reason.
const CLIENT_ERROR: &str = "The server could not comply with the request since it is either \
                            malformed or otherwise incorrect. The client is assumed to be in error.";

fn invalid(detail: &str) -> ApiError {
    err(
        StatusCode::BAD_REQUEST,
        format!("Invalid application credential: {detail}"),
    )
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find Application Credential: {id}."),
    )
}

/// A secret as Keystone generates them: 64 random bytes, URL-safe base64.
fn generate_secret() -> String {
    let mut bytes = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// An application credential as Keystone shows it; `secret` only right after creation,
/// `user_id` only when showing one.
fn view(top: &Top, c: &AppCredential, ids: &HashMap<String, String>, extra: Value) -> Value {
    let roles: Vec<Value> = c
        .roles
        .iter()
        .filter_map(|n| ids.get(n).map(|id| views::role(top, id, n)))
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("links");
            }
            r
        })
        .collect();
    let expires_at = c
        .expires_at
        .and_then(DateTime::from_timestamp_millis)
        .map(time::micros_naive);
    let mut v = json!({
        "id": c.id, "name": c.name, "description": c.description, "expires_at": expires_at,
        "project_id": c.project_id, "roles": roles, "unrestricted": c.unrestricted,
        "links": {"self": format!("{}/users/{}/application_credentials/{}", top.auth_url(), c.user_id, c.id)},
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

/// Tokens issued for a restricted application credential may not manage credentials.
async fn check_unrestricted(c: &Caller) -> Result<(), ApiError> {
    let Some(id) = &c.claims.app_cred else {
        return Ok(());
    };
    let cred = c.top.store.app_credential(id).await.map_err(internal)?;
    if cred.is_some_and(|a| a.unrestricted) {
        Ok(())
    } else {
        Err(forbidden_action(
            "Using method 'application_credential' is not allowed for managing additional application credentials.",
        ))
    }
}

/// `expires_at`: a future time, or none.
fn expiry(value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(s) = value else {
        return Ok(None);
    };
    let t = time::parse(s).ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            format!("Timestamp not in expected format. {CLIENT_ERROR}"),
        )
    })?;
    if t.timestamp_millis() <= now_ms() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("The 'expires_at' must not be before now. {CLIENT_ERROR}"),
        ));
    }
    Ok(Some(t.timestamp_millis()))
}

/// The role names a new credential carries: those asked for (by ID or name, with the roles
/// they imply), which the caller's token must hold; the token's roles by default.
async fn requested_roles(c: &Caller, b: &Object) -> Result<Vec<String>, ApiError> {
    let refs = opt_objects(b, "roles")?.unwrap_or_default();
    if refs.is_empty() {
        return Ok(c.claims.roles.clone());
    }
    let names = role_names(&c.top).await?;
    let mut wanted = BTreeSet::new();
    for r in refs {
        let name = match (opt_str(r, "id")?, opt_str(r, "name")?) {
            // An unknown ID names a role no token holds: refused below.
            (Some(id), _) => names.get(id).cloned().unwrap_or_else(|| id.to_string()),
            (None, Some(n)) => names
                .values()
                .find(|x| *x == n)
                .cloned()
                .ok_or_else(|| super::roles::not_found(n))?,
            (None, None) => return Err(super::expecting("id or name", "role")),
        };
        wanted.extend(implied_roles(&name).iter().map(|x| x.to_string()));
        wanted.insert(name);
    }
    if wanted.iter().any(|n| !c.claims.has_role(n)) {
        return Err(invalid(
            "Cannot create an application credential with unassigned role",
        ));
    }
    Ok(wanted.into_iter().collect())
}

/// `POST /v3/users/{user_id}/application_credentials`: for the caller's project, 201 with
/// the secret (generated when not given).
pub async fn create(c: Caller, Path(user_id): Path<String>, OsJson(body): OsJson) -> Res {
    if c.user_id() != user_id {
        return Err(ks::forbidden("create_application_credential"));
    }
    check_unrestricted(&c).await?;
    let b = entity(&body, "application_credential")?;
    let name = required_str(b, "name")?;
    if opt_objects(b, "access_rules")?.is_some_and(|r| !r.is_empty()) {
        return Err(invalid("access rules are not supported by fedstack"));
    }
    let (project_id, _) = c
        .claims
        .project
        .clone()
        .ok_or_else(|| invalid("a project-scoped token is required to create one"))?;
    let secret = match opt_str(b, "secret")? {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => generate_secret(),
    };
    let cred = AppCredential {
        id: new_id(),
        user_id,
        project_id,
        name: name.into(),
        description: opt_str(b, "description")?.map(String::from),
        secret_hash: hash_secret(&secret).await?,
        roles: requested_roles(&c, b).await?,
        unrestricted: opt_bool(b, "unrestricted")?.unwrap_or(false),
        expires_at: expiry(opt_str(b, "expires_at")?)?,
    };
    match c.top.store.create_app_credential(&cred).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}."),
            ))
        }
        Err(e) => return Err(internal(e)),
    }
    let ids = role_ids(&c.top).await?;
    let v = view(&c.top, &cred, &ids, json!({ "secret": secret }));
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": v})),
    )
        .into_response())
}

/// `GET /v3/users/{user_id}/application_credentials`, filtered by `name`.
pub async fn list(
    c: Caller,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    if c.user_id() != user_id {
        return Err(ks::forbidden("list_application_credentials"));
    }
    let creds = c
        .top
        .store
        .app_credentials_of(&user_id)
        .await
        .map_err(internal)?;
    let ids = role_ids(&c.top).await?;
    let items: Vec<Value> = creds
        .iter()
        .filter(|a| super::filter_eq(&q, "name", &a.name))
        .map(|a| view(&c.top, a, &ids, json!({})))
        .collect();
    let path = format!("/users/{user_id}/application_credentials");
    let l = links(&c.top, &path, raw.as_deref());
    Ok(Json(json!({"application_credentials": items, "links": l})).into_response())
}

/// The caller's own credential: someone else's is a 403, a missing one a 404 (as Keystone
/// checks its policy against the credential's owner).
async fn owned(
    c: &Caller,
    user_id: &str,
    id: &str,
    action: &str,
) -> Result<AppCredential, ApiError> {
    match c.top.store.app_credential(id).await.map_err(internal)? {
        Some(cred) if cred.user_id == c.user_id() => Ok(cred),
        None if user_id == c.user_id() => Err(not_found(id)),
        _ => Err(ks::forbidden(action)),
    }
}

/// `GET /v3/users/{user_id}/application_credentials/{id}`.
pub async fn show(c: Caller, Path((user_id, id)): Path<(String, String)>) -> Res {
    let cred = owned(&c, &user_id, &id, "get_application_credential").await?;
    let ids = role_ids(&c.top).await?;
    let v = view(&c.top, &cred, &ids, json!({"user_id": cred.user_id}));
    Ok(Json(json!({ "application_credential": v })).into_response())
}

/// `DELETE /v3/users/{user_id}/application_credentials/{id}`: its tokens are revoked.
pub async fn delete(c: Caller, Path((user_id, id)): Path<(String, String)>) -> Res {
    let cred = owned(&c, &user_id, &id, "delete_application_credential").await?;
    check_unrestricted(&c).await?;
    let store = &c.top.store;
    if !store
        .delete_app_credential(&cred.user_id, &id)
        .await
        .map_err(internal)?
    {
        return Err(not_found(&id));
    }
    revoke_subject(&c.top, format!("appcred:{id}")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
