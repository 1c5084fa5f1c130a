//! Tokens any top node can verify without reading the database: claims signed with
//! HMAC-SHA256 under rotating keys (kept in the store, cached in memory), plus a revocation
//! cache refreshed from the store.

use crate::scope::ServiceScope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use fedstack_store::identity::Revocation;
use fedstack_store::{now_ms, Store};
use hmac::{Hmac, Mac};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;

type HmacSha256 = Hmac<Sha256>;

/// How many signing keys are kept (the newest signs, all verify).
const KEYS_KEPT: usize = 3;

/// What a token says about its holder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "un")]
    pub user_name: String,
    /// (project id, project name) for project-scoped tokens.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub project: Option<(String, String)>,
    /// Effective role names.
    #[serde(rename = "r", default)]
    pub roles: Vec<String>,
    #[serde(rename = "m")]
    pub methods: Vec<String>,
    /// This token's audit id, then its parent's (rescoped tokens).
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
    #[serde(rename = "i")]
    pub issued_ms: i64,
    #[serde(rename = "e")]
    pub expires_ms: i64,
    /// The application credential the token was issued for.
    #[serde(rename = "ac", default, skip_serializing_if = "Option::is_none")]
    pub app_cred: Option<String>,
    /// The sites each service of the holder's requests goes to (empty: the federation).
    #[serde(rename = "sc", default, skip_serializing_if = "ServiceScope::is_empty")]
    pub scope: ServiceScope,
}

impl Claims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
    pub fn project_id(&self) -> Option<&str> {
        self.project.as_ref().map(|p| p.0.as_str())
    }
}

/// Revocations in memory: by audit id, and "every token of this user/project before t".
#[derive(Default)]
struct RevocationCache {
    by_id: HashMap<String, i64>,
}

impl RevocationCache {
    fn revoked(&self, c: &Claims) -> bool {
        let hit = |id: &str| {
            self.by_id
                .get(id)
                .is_some_and(|before| c.issued_ms <= *before)
        };
        c.audit_ids.iter().any(|a| hit(a))
            || hit(&format!("user:{}", c.user_id))
            || c.project
                .as_ref()
                .is_some_and(|(p, _)| hit(&format!("project:{p}")))
            || c.app_cred
                .as_ref()
                .is_some_and(|a| hit(&format!("appcred:{a}")))
    }
}

/// Issues and verifies tokens.
pub struct TokenService {
    store: Store,
    lifetime_ms: i64,
    keys: RwLock<Vec<(String, Vec<u8>)>>,
    revocations: RwLock<RevocationCache>,
}

/// The key or revocations could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("token keys: {0}")]
pub struct TokenError(#[from] fedstack_store::StoreError);

impl TokenService {
    /// Loads keys (creating the first) and revocations from the store.
    pub async fn load(store: Store, lifetime_secs: i64) -> Result<TokenService, TokenError> {
        if store.token_keys().await?.is_empty() {
            Self::add_key(&store).await?;
        }
        let svc = TokenService {
            store,
            lifetime_ms: lifetime_secs * 1000,
            keys: RwLock::new(Vec::new()),
            revocations: RwLock::new(RevocationCache::default()),
        };
        svc.refresh().await?;
        Ok(svc)
    }

    async fn add_key(store: &Store) -> Result<(), TokenError> {
        let secret: [u8; 32] = rand::random();
        let id = hex::encode(rand::random::<[u8; 4]>());
        store
            .add_token_key(&id, &B64.encode(secret), KEYS_KEPT)
            .await?;
        Ok(())
    }

    /// Adds a new signing key; tokens signed by the previous keys stay valid.
    pub async fn rotate(&self) -> Result<(), TokenError> {
        Self::add_key(&self.store).await?;
        self.refresh().await
    }

    /// Reloads keys and revocations (other nodes may have changed them).
    pub async fn refresh(&self) -> Result<(), TokenError> {
        let keys = self
            .store
            .token_keys()
            .await?
            .into_iter()
            .filter_map(|(id, s)| B64.decode(s).ok().map(|k| (id, k)))
            .collect();
        *self.keys.write() = keys;
        let revs = self.store.revocations().await?;
        let mut cache = RevocationCache::default();
        for r in revs {
            cache.by_id.insert(r.id, r.issued_before);
        }
        *self.revocations.write() = cache;
        Ok(())
    }

    /// Lifetime of new tokens, in milliseconds.
    pub fn lifetime_ms(&self) -> i64 {
        self.lifetime_ms
    }

    /// Signs claims into a token.
    pub fn issue(&self, claims: &Claims) -> String {
        let keys = self.keys.read();
        let Some((kid, key)) = keys.first() else {
            return String::new();
        };
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("fst1.{kid}.{payload}");
        let sig = sign(key, signed.as_bytes());
        format!("{signed}.{sig}")
    }

    /// The claims of a valid token: signed by a known key, not expired, not revoked.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (signed, sig) = token.rsplit_once('.')?;
        let mut parts = signed.splitn(3, '.');
        let (version, kid, payload) = (parts.next()?, parts.next()?, parts.next()?);
        if version != "fst1" {
            return None;
        }
        {
            let keys = self.keys.read();
            let (_, key) = keys.iter().find(|(id, _)| id == kid)?;
            let mut mac = HmacSha256::new_from_slice(key).ok()?;
            mac.update(signed.as_bytes());
            mac.verify_slice(&B64.decode(sig).ok()?).ok()?;
        }
        let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        if claims.expires_ms <= now_ms() || self.revocations.read().revoked(&claims) {
            return None;
        }
        Some(claims)
    }

    /// Revokes one token (and the tokens rescoped from it).
    pub async fn revoke(&self, claims: &Claims) -> Result<(), TokenError> {
        let id = claims.audit_ids.first().cloned().unwrap_or_default();
        self.revoke_id(id, "audit", claims.expires_ms).await
    }

    /// Revokes every token of a user, project or application credential issued until now
    /// (`subject` is `user:<id>`, `project:<id>` or `appcred:<id>`).
    pub async fn revoke_subject(&self, subject: String) -> Result<(), TokenError> {
        let until = now_ms() + self.lifetime_ms;
        self.revoke_id(subject, "subject", until).await
    }

    async fn revoke_id(&self, id: String, kind: &str, expires_at: i64) -> Result<(), TokenError> {
        let issued_before = now_ms();
        self.store
            .revoke(&Revocation {
                id: id.clone(),
                kind: kind.into(),
                issued_before,
                expires_at,
            })
            .await?;
        self.revocations.write().by_id.insert(id, issued_before);
        Ok(())
    }
}

fn sign(key: &[u8], data: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    B64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn service() -> TokenService {
        let dir = std::env::temp_dir().join(format!("fedstack-tokens-{}", uuid::Uuid::new_v4()));
        let store = Store::open_in_dir(&dir).await.unwrap();
        TokenService::load(store, 3600).await.unwrap()
    }

    fn claims(user: &str) -> Claims {
        Claims {
            user_id: user.into(),
            user_name: "alice".into(),
            project: Some(("p1".into(), "demo".into())),
            roles: vec!["member".into(), "reader".into()],
            methods: vec!["password".into()],
            audit_ids: vec![fedstack_api_types::keystone::audit_id()],
            issued_ms: now_ms() - 1,
            expires_ms: now_ms() + 60_000,
            app_cred: None,
            scope: ServiceScope::default(),
        }
    }

    #[tokio::test]
    async fn verify_rejects_tampering_expiry_and_revocation() {
        let svc = service().await;
        let c = claims("u1");
        let t = svc.issue(&c);
        assert_eq!(svc.verify(&t), Some(c.clone()));
        // A changed payload does not verify.
        let forged = svc.issue(&Claims {
            roles: vec!["admin".into()],
            ..c.clone()
        });
        let (head, _) = t.rsplit_once('.').unwrap();
        let (_, forged_sig) = forged.rsplit_once('.').unwrap();
        assert!(svc.verify(&format!("{head}.{forged_sig}")).is_none());
        let mut parts: Vec<&str> = t.split('.').collect();
        let admin_payload = B64.encode(
            serde_json::to_vec(&Claims {
                roles: vec!["admin".into()],
                ..c.clone()
            })
            .unwrap(),
        );
        parts[2] = &admin_payload;
        assert!(svc.verify(&parts.join(".")).is_none());
        // Expired.
        let old = svc.issue(&Claims {
            expires_ms: now_ms() - 1,
            ..c.clone()
        });
        assert!(svc.verify(&old).is_none());
        // Revoked by audit id, and by user.
        svc.revoke(&c).await.unwrap();
        assert!(svc.verify(&t).is_none());
        let c2 = claims("u2");
        let t2 = svc.issue(&c2);
        svc.revoke_subject("user:u2".into()).await.unwrap();
        assert!(svc.verify(&t2).is_none());
        let later = svc.issue(&Claims {
            issued_ms: now_ms() + 5,
            ..claims("u2")
        });
        assert!(
            svc.verify(&later).is_some(),
            "tokens issued after a user revocation are valid"
        );
    }

    #[tokio::test]
    async fn rotation_keeps_old_tokens_valid_and_other_nodes_agree() {
        let svc = service().await;
        let t = svc.issue(&claims("u1"));
        svc.rotate().await.unwrap();
        let t2 = svc.issue(&claims("u1"));
        assert_ne!(t.split('.').nth(1), t2.split('.').nth(1), "a new key signs");
        assert!(svc.verify(&t).is_some() && svc.verify(&t2).is_some());
        let other = TokenService::load(svc.store.clone(), 3600).await.unwrap();
        assert!(
            other.verify(&t2).is_some(),
            "another node verifies without a database read per token"
        );
    }
}
