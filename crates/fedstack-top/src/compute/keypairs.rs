//! Key pairs: kept at the top per user; imported for the user on a site when a server there
//! needs one (named with a per-user suffix, as one service account holds them all).

use super::translate::site_name;
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
use fedstack_api_types::nova::{self, KeypairSection, KeypairView};
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::keypairs::Keypair;
use fedstack_store::{now_ms, StoreError};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/os-keypairs", get(list).post(create))
        .route("/v2.1/os-keypairs/{name}", get(show).delete(delete))
}

fn view(k: &Keypair) -> KeypairView<'_> {
    KeypairView {
        name: &k.name,
        public_key: &k.public_key,
        fingerprint: &k.fingerprint,
        key_type: &k.key_type,
        user_id: &k.user_id,
        id: k.created_at % 1_000_000,
        created_at: chrono::DateTime::from_timestamp_millis(k.created_at).unwrap_or_default(),
    }
}

fn not_found(name: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Keypair {name} not found for user"),
    )
}

/// The user whose key pairs a request is about: `?user_id=` for admins (2.10+), else the caller.
fn target_user(c: &Caller, query: Option<&str>) -> String {
    let asked = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.into_owned())
    });
    match asked {
        Some(u) if c.is_admin() => u,
        _ => c.user_id().to_string(),
    }
}

async fn list(c: Caller, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    let user = target_user(&c, q.as_deref());
    let keys = c.top.store.keypairs(&user).await.map_err(store_err)?;
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keypair": nova::keypair(&view(k), mv, KeypairSection::List, None)}))
        .collect();
    Ok(Json(json!({ "keypairs": items })).into_response())
}

async fn show(c: Caller, Mv(mv): Mv, Path(name): Path<String>, RawQuery(q): RawQuery) -> Res {
    let user = target_user(&c, q.as_deref());
    let k = c
        .top
        .store
        .keypair(&user, &name)
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found(&name))?;
    Ok(
        Json(json!({"keypair": nova::keypair(&view(&k), mv, KeypairSection::Show, None)}))
            .into_response(),
    )
}

async fn delete(c: Caller, Path(name): Path<String>, RawQuery(q): RawQuery) -> Res {
    let user = target_user(&c, q.as_deref());
    if !c
        .top
        .store
        .delete_keypair(&user, &name)
        .await
        .map_err(store_err)?
    {
        return Err(not_found(&name));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

fn bad(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

async fn create(c: Caller, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    let kp = body.get("keypair").filter(|v| v.is_object()).ok_or_else(|| bad(format!("Invalid input for field/attribute keypair. Value: {}. 'keypair' is a required property", fedstack_api_types::pyrepr::repr(&body))))?;
    let name = kp
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| {
            bad("Invalid input for field/attribute name. 'name' is a required property")
        })?;
    if !name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || " _-.@".contains(ch))
    {
        return Err(bad(format!("Invalid input for field/attribute name. Value: {name}. 'name' does not match the allowed characters")));
    }
    let key_type = kp
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ssh")
        .to_string();
    if !["ssh", "x509"].contains(&key_type.as_str()) {
        return Err(bad(format!("Invalid input for field/attribute type. Value: {key_type}. '{key_type}' is not one of ['ssh', 'x509']")));
    }
    let user = match kp.get("user_id").and_then(Value::as_str) {
        Some(u) if c.is_admin() && mv.at_least(2, 10) => u.to_string(),
        _ => c.user_id().to_string(),
    };
    let (public_key, private_key) = match kp.get("public_key").and_then(Value::as_str) {
        Some(pk) => (pk.trim().to_string(), None),
        None if mv.at_least(2, 92) => return Err(bad(format!("Invalid input for field/attribute keypair. Value: {}. 'public_key' is a required property", fedstack_api_types::pyrepr::repr(kp)))),
        None => {
            let (private, public) = nova::generate_keypair().ok_or_else(|| err(StatusCode::INTERNAL_SERVER_ERROR, "Key generation failed."))?;
            (public, Some(private))
        }
    };
    let fingerprint = nova::fingerprint(&public_key)
        .ok_or_else(|| bad("Keypair data is invalid: failed to generate fingerprint"))?;
    let k = Keypair {
        user_id: user,
        name: name.to_string(),
        key_type,
        public_key,
        fingerprint,
        created_at: now_ms(),
    };
    match c.top.store.create_keypair(&k).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Key pair '{name}' already exists."),
            ))
        }
        Err(e) => return Err(store_err(e)),
    }
    let status = if mv.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": nova::keypair(&view(&k), mv, KeypairSection::Create, private_key.as_deref())}))).into_response())
}

/// The site key pair name of the caller's key `name`, importing it on the site if needed.
pub async fn ensure_on_site(
    c: &Caller,
    site: &SiteHandle,
    site_project: &str,
    name: &str,
) -> Result<String, ApiError> {
    let top: &Top = &c.top;
    let k = top
        .store
        .keypair(c.user_id(), name)
        .await
        .map_err(store_err)?
        .ok_or_else(|| bad("Invalid key_name provided."))?;
    let site_key = site_name(&k.name, c.user_id());
    let fail = |e| site_error(Service::Compute, site, e);
    let scope = Scope::Project(site_project.to_string());
    let existing = site
        .client
        .send(SiteRequest::new(
            Method::GET,
            "compute",
            format!("/os-keypairs/{site_key}"),
            scope.clone(),
        ))
        .await
        .map_err(fail)?;
    if existing.is_success() {
        if existing
            .json()
            .pointer("/keypair/fingerprint")
            .and_then(Value::as_str)
            == Some(k.fingerprint.as_str())
        {
            return Ok(site_key);
        }
        site.client
            .send(SiteRequest::new(
                Method::DELETE,
                "compute",
                format!("/os-keypairs/{site_key}"),
                scope.clone(),
            ))
            .await
            .map_err(fail)?;
    }
    let body =
        json!({"keypair": {"name": site_key, "public_key": k.public_key, "type": k.key_type}});
    let r = site
        .client
        .send(super::with_mv(
            SiteRequest::new(Method::POST, "compute", "/os-keypairs", scope).json(&body),
            fedstack_api_types::Microversion::new(2, 2),
        ))
        .await
        .map_err(fail)?;
    if !(r.is_success() || r.status == StatusCode::CONFLICT) {
        return Err(super::site_answer_error(site, r.status, &r.json()));
    }
    Ok(site_key)
}
