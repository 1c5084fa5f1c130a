//! Key pairs, kept at the top per user and imported on a site when a server needs them.

use crate::{conflict_on_unique, now_ms, Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// A user's key pair (public part only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keypair {
    pub user_id: String,
    pub name: String,
    pub key_type: String,
    pub public_key: String,
    pub fingerprint: String,
    pub created_at: i64,
}

fn keypair_row(r: &sqlx::any::AnyRow) -> Result<Keypair> {
    Ok(Keypair {
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        key_type: r.try_get("type")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Stores a key pair; a name the user already has is a conflict.
    pub async fn create_keypair(&self, k: &Keypair) -> Result<()> {
        sqlx::query("INSERT INTO keypairs (user_id, name, type, public_key, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.user_id)
            .bind(&k.name)
            .bind(&k.key_type)
            .bind(&k.public_key)
            .bind(&k.fingerprint)
            .bind(if k.created_at == 0 { now_ms() } else { k.created_at })
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &k.name))?;
        Ok(())
    }

    pub async fn keypair(&self, user_id: &str, name: &str) -> Result<Option<Keypair>> {
        sqlx::query("SELECT user_id, name, type, public_key, fingerprint, created_at FROM keypairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(keypair_row)
            .transpose()
    }

    /// A user's key pairs by name.
    pub async fn keypairs(&self, user_id: &str) -> Result<Vec<Keypair>> {
        sqlx::query("SELECT user_id, name, type, public_key, fingerprint, created_at FROM keypairs WHERE user_id = $1 ORDER BY name")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(keypair_row)
            .collect()
    }

    pub async fn delete_keypair(&self, user_id: &str, name: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM keypairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}
