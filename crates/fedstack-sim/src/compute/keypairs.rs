//! Key pairs (`os-keypairs`): imported or generated (a real ed25519 key), per user, with
//! Nova's MD5 fingerprints and the per-microversion views.

use super::quotas::QuotaKind;
use super::schema::validate;
use super::{
    bad_request, conflict, empty, forbidden, json_status, next_link, not_found, policy, Res, JSON,
};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Utc};
use fedstack_api_types::{time, ApiError};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A key pair.
#[derive(Debug, Clone)]
pub struct Keypair {
    pub id: u64,
    pub name: String,
    pub user_id: String,
    pub public_key: String,
    pub fingerprint: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub created_at: DateTime<Utc>,
}

/// Key pairs by user, then by name (Nova lists them sorted by name).
#[derive(Debug, Default)]
pub struct Keypairs {
    by_user: HashMap<String, BTreeMap<String, Keypair>>,
    last_id: u64,
}

impl Keypairs {
    /// The key pair `name` of `user_id`.
    pub fn get(&self, user_id: &str, name: &str) -> Option<&Keypair> {
        self.by_user.get(user_id)?.get(name)
    }

    /// How many key pairs `user_id` has.
    pub fn count(&self, user_id: &str) -> u64 {
        self.by_user.get(user_id).map_or(0, |m| m.len() as u64)
    }
}

/// Nova's fingerprint: the MD5 of the key blob, as colon-separated hex pairs.
pub fn fingerprint(public_key: &str) -> Option<String> {
    let blob = public_key.split_whitespace().nth(1)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let digest = Md5::digest(raw);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A fresh ed25519 key pair: (OpenSSH private key, public key line).
fn generate() -> Result<(String, String), ApiError> {
    let failed = |_| super::err(StatusCode::INTERNAL_SERVER_ERROR, "Key generation failed.");
    let mut key = ssh_key::PrivateKey::random(&mut rand::rngs::OsRng, ssh_key::Algorithm::Ed25519)
        .map_err(failed)?;
    key.set_comment("Generated-by-Nova");
    let private = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(failed)?
        .to_string();
    let public = key.public_key().to_openssh().map_err(failed)?;
    Ok((private, public))
}

/// The key pair routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/os-keypairs", get(list).post(create))
        .route("/v2.1/os-keypairs/{name}", get(show).delete(delete))
}

fn create_schema(mv: Mv) -> Value {
    let pattern = if mv.at_least(2, 92) {
        "^[a-zA-Z0-9 @._-]+$"
    } else {
        "^[a-zA-Z0-9 _-]+$"
    };
    let mut props = json!({
        "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": pattern},
        "public_key": {"type": "string"},
    });
    if mv.at_least(2, 2) {
        props["type"] = json!({"type": "string", "enum": ["ssh", "x509"]});
    }
    if mv.at_least(2, 10) {
        props["user_id"] = json!({"type": "string", "minLength": 1, "maxLength": 255});
    }
    let required = if mv.at_least(2, 92) {
        json!(["name", "public_key"])
    } else {
        json!(["name"])
    };
    json!({
        "type": "object",
        "properties": {"keypair": {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": false,
        }},
        "required": ["keypair"],
        "additionalProperties": false,
    })
}

/// The user a request acts for: `user_id` (2.10+, admins only) or the caller.
fn target_user(ctx: &Ctx, mv: Mv, asked: Option<&str>, rule: &str) -> Result<String, ApiError> {
    match asked {
        Some(u) if mv.at_least(2, 10) && u != ctx.user_id() => {
            if ctx.is_admin() {
                Ok(u.to_string())
            } else {
                Err(policy(&format!("os_compute_api:os-keypairs:{rule}")))
            }
        }
        _ => Ok(ctx.user_id().to_string()),
    }
}

async fn create(ctx: Ctx, mv: Mv, OsJson(body): OsJson) -> Res {
    validate(&create_schema(mv), &body)?;
    let b = &body["keypair"];
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let user_id = target_user(&ctx, mv, b["user_id"].as_str(), "create")?;
    let key_type = b["type"].as_str().unwrap_or("ssh").to_string();
    let (private_key, public_key) = match b["public_key"].as_str() {
        Some(k) => (None, k.trim().to_string()),
        None => {
            let (private, public) = generate()?;
            (Some(private), public)
        }
    };
    let fingerprint = fingerprint(&public_key)
        .filter(|_| key_type == "x509" || ssh_key::PublicKey::from_openssh(&public_key).is_ok())
        .ok_or_else(|| bad_request("Keypair data is invalid: failed to generate fingerprint"))?;
    let mut g = ctx.site.data.lock();
    let compute = &mut g.compute;
    let limit = compute.quotas.limit(ctx.project_id(), QuotaKind::KeyPairs);
    if limit >= 0 && compute.keypairs.count(&user_id) as i64 >= limit {
        return Err(forbidden("Quota exceeded, too many key pairs."));
    }
    if compute.keypairs.get(&user_id, &name).is_some() {
        return Err(conflict(format!("Key pair '{name}' already exists.")));
    }
    compute.keypairs.last_id += 1;
    let kp = Keypair {
        id: compute.keypairs.last_id,
        name: name.clone(),
        user_id: user_id.clone(),
        public_key,
        fingerprint,
        key_type,
        created_at: Utc::now(),
    };
    let view = created_view(&kp, private_key, mv);
    compute
        .keypairs
        .by_user
        .entry(user_id)
        .or_default()
        .insert(name, kp);
    let status = if mv.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_status(status, json!({ "keypair": view })))
}

/// The answer to a create: `type` (2.2+) and the generated private key first.
fn created_view(kp: &Keypair, private_key: Option<String>, mv: Mv) -> Value {
    let mut v = Map::new();
    if mv.at_least(2, 2) {
        v.insert("type".into(), json!(kp.key_type));
    }
    if let Some(p) = private_key {
        v.insert("private_key".into(), json!(p));
    }
    v.insert("name".into(), json!(kp.name));
    v.insert("public_key".into(), json!(kp.public_key));
    v.insert("fingerprint".into(), json!(kp.fingerprint));
    v.insert("user_id".into(), json!(kp.user_id));
    Value::Object(v)
}

fn list_view(kp: &Keypair, mv: Mv) -> Value {
    let mut v =
        json!({"name": kp.name, "public_key": kp.public_key, "fingerprint": kp.fingerprint});
    if mv.at_least(2, 2) {
        v["type"] = json!(kp.key_type);
    }
    json!({ "keypair": v })
}

fn show_view(kp: &Keypair, mv: Mv) -> Value {
    let mut v = json!({
        "name": kp.name, "public_key": kp.public_key, "fingerprint": kp.fingerprint,
        "user_id": kp.user_id, "created_at": time::micros_naive(kp.created_at),
        "deleted": false, "deleted_at": null, "id": kp.id, "updated_at": null,
    });
    if mv.at_least(2, 2) {
        v["type"] = json!(kp.key_type);
    }
    v
}

async fn list(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    let user_id = target_user(&ctx, mv, q.get("user_id").map(String::as_str), "index")?;
    let paging = mv.at_least(2, 35);
    let limit = match q.get("limit").filter(|_| paging) {
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}. '{l}' does not match '^[0-9]*$'"
            ))
        })?),
        None => None,
    };
    let g = ctx.site.data.lock();
    let empty_map = BTreeMap::new();
    let keys = g
        .compute
        .keypairs
        .by_user
        .get(&user_id)
        .unwrap_or(&empty_map);
    let start = match q.get("marker").filter(|_| paging) {
        Some(m) if keys.contains_key(m) => std::ops::Bound::Excluded(m.clone()),
        Some(m) => return Err(bad_request(format!("marker [{m}] not found"))),
        None => std::ops::Bound::Unbounded,
    };
    let page: Vec<&Keypair> = keys
        .range((start, std::ops::Bound::Unbounded))
        .map(|(_, k)| k)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let mut body = json!({"keypairs": page.iter().map(|k| list_view(k, mv)).collect::<Vec<_>>()});
    if let (Some(l), Some(last)) = (limit, page.last()) {
        if page.len() == l {
            body["keypairs_links"] =
                next_link(&ctx.site, "os-keypairs", &format!("limit={l}&"), &last.name);
        }
    }
    Ok(Json(body).into_response())
}

fn keypair_not_found(name: &str, user_id: &str) -> ApiError {
    not_found(format!("Keypair {name} not found for user {user_id}"))
}

async fn show(
    ctx: Ctx,
    mv: Mv,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let user_id = target_user(&ctx, mv, q.get("user_id").map(String::as_str), "show")?;
    let g = ctx.site.data.lock();
    let kp = g
        .compute
        .keypairs
        .get(&user_id, &name)
        .ok_or_else(|| keypair_not_found(&name, &user_id))?;
    Ok(Json(json!({"keypair": show_view(kp, mv)})).into_response())
}

async fn delete(
    ctx: Ctx,
    mv: Mv,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let user_id = target_user(&ctx, mv, q.get("user_id").map(String::as_str), "delete")?;
    let mut g = ctx.site.data.lock();
    g.compute
        .keypairs
        .by_user
        .get_mut(&user_id)
        .and_then(|m| m.remove(&name))
        .ok_or_else(|| keypair_not_found(&name, &user_id))?;
    let status = if mv.at_least(2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    Ok(empty(status, JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_novas_md5_form() {
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKN5KQzNi9J86MAkRpF27dUf+wlv0Kx3Q87XC4bKm1Fe capture@fedstack";
        assert_eq!(
            fingerprint(key).as_deref(),
            Some("91:15:9b:d5:76:5c:a0:a4:5a:4d:28:b2:c6:9c:2a:b3")
        );
        let (private, public) = generate().unwrap();
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" Generated-by-Nova"));
        assert_eq!(fingerprint(&public).map(|f| f.len()), Some(47));
    }
}
