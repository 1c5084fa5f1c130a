//! Persistence of the fedstack top.
//!
//! One schema (see `migrations/`) runs on SQLite, the embedded default, and on PostgreSQL for
//! several top nodes. Queries use portable SQL through sqlx's `Any` driver; times are unix
//! milliseconds, flags 0/1, JSON documents text.

pub mod flavors;
pub mod identity;
pub mod images;
pub mod keypairs;
pub mod networks;
pub mod quotas;
pub mod routes;
pub mod servers;
pub mod sites;
pub mod volumes;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::AnyPool;
use std::path::Path;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The top's database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`
    /// (`sqlite:///path/fedstack.db` or `postgres://...`).
    pub async fn open(url: &str) -> Result<Store> {
        install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_string()
        };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Opens the SQLite database `fedstack.db` in `dir`.
    pub async fn open_in_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", dir.display())))?;
        Store::open(&format!("sqlite://{}", dir.join("fedstack.db").display())).await
    }

    /// The connection pool, for modules of this crate.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Db(e),
    }
}

/// Parses a JSON column.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
pub(crate) async fn test_store() -> Store {
    let dir = std::env::temp_dir().join(format!("fedstack-store-test-{}", uuid_like()));
    Store::open_in_dir(&dir).await.expect("open test store")
}

#[cfg(test)]
fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{n:x}-{:x}", std::process::id())
}
