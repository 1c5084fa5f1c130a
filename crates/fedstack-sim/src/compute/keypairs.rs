//! Key pairs (`os-keypairs`): imported or generated (a real ed25519 key), per user, shown with
//! the fingerprints and per-microversion views of [`fedstack_api_types::nova`].

use super::quotas::QuotaKind;
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
use chrono::{DateTime, Utc};
use fedstack_api_types::nova::schema::validate;
use fedstack_api_types::nova::{self, KeypairSection, KeypairView};
use fedstack_api_types::ApiError;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A key pair.
#[derive(Debug, Clone)]
pub struct Keypair {
    pub id: i64,
    pub name: String,
    pub user_id: String,
    pub public_key: String,
    pub fingerprint: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    pub created_at: DateTime<Utc>,
}

impl Keypair {
    /// The key pair as Nova shows it in `section` at `mv`.
    fn view(&self, mv: Mv, section: KeypairSection, private_key: Option<&str>) -> Value {
        let k = KeypairView {
            name: &self.name,
            public_key: &self.public_key,
            fingerprint: &self.fingerprint,
            key_type: &self.key_type,
            user_id: &self.user_id,
            id: self.id,
            created_at: self.created_at,
        };
        nova::keypair(&k, mv.0, section, private_key)
    }
}

/// Key pairs by user, then by name (Nova lists them sorted by name).
#[derive(Debug, Default)]
pub struct Keypairs {
    by_user: HashMap<String, BTreeMap<String, Keypair>>,
    last_id: i64,
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
            let (private, public) = nova::generate_keypair().ok_or_else(|| {
                super::err(StatusCode::INTERNAL_SERVER_ERROR, "Key generation failed.")
            })?;
            (Some(private), public)
        }
    };
    let fingerprint = nova::fingerprint(&public_key)
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
    let view = kp.view(mv, KeypairSection::Create, private_key.as_deref());
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
    let list: Vec<Value> = page
        .iter()
        .map(|k| json!({"keypair": k.view(mv, KeypairSection::List, None)}))
        .collect();
    let mut body = json!({ "keypairs": list });
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
    Ok(Json(json!({"keypair": kp.view(mv, KeypairSection::Show, None)})).into_response())
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
