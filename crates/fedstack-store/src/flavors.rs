//! Flavors defined at the top, and the flavor each site got for them.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// A top flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: i64,
    pub ram: i64,
    pub disk: i64,
    pub ephemeral: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
}

const COLS: &str =
    "id, name, vcpus, ram, disk, ephemeral, swap, rxtx_factor, is_public, description, extra_specs";

fn flavor_row(r: &sqlx::any::AnyRow) -> Result<Flavor> {
    Ok(Flavor {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        vcpus: r.try_get("vcpus")?,
        ram: r.try_get("ram")?,
        disk: r.try_get("disk")?,
        ephemeral: r.try_get("ephemeral")?,
        swap: r.try_get("swap")?,
        rxtx_factor: r.try_get("rxtx_factor")?,
        is_public: r.try_get::<i64, _>("is_public")? != 0,
        description: r.try_get("description")?,
        extra_specs: json_col(&r.try_get::<String, _>("extra_specs")?)?,
    })
}

impl Store {
    /// Creates a flavor; a taken ID or name is a conflict.
    pub async fn create_flavor(&self, f: &Flavor) -> Result<()> {
        let q = format!("INSERT INTO flavors ({COLS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
        sqlx::query(&q)
            .bind(&f.id)
            .bind(&f.name)
            .bind(f.vcpus)
            .bind(f.ram)
            .bind(f.disk)
            .bind(f.ephemeral)
            .bind(f.swap)
            .bind(f.rxtx_factor)
            .bind(f.is_public as i64)
            .bind(&f.description)
            .bind(serde_json::to_string(&f.extra_specs).unwrap_or_else(|_| "{}".into()))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &f.name))?;
        Ok(())
    }

    /// Replaces the description and extra specs of a flavor.
    pub async fn update_flavor(&self, f: &Flavor) -> Result<()> {
        sqlx::query("UPDATE flavors SET description = $2, extra_specs = $3 WHERE id = $1")
            .bind(&f.id)
            .bind(&f.description)
            .bind(serde_json::to_string(&f.extra_specs).unwrap_or_else(|_| "{}".into()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn flavor(&self, id: &str) -> Result<Option<Flavor>> {
        let q = format!("SELECT {COLS} FROM flavors WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(flavor_row)
            .transpose()
    }

    pub async fn flavor_by_name(&self, name: &str) -> Result<Option<Flavor>> {
        let q = format!("SELECT {COLS} FROM flavors WHERE name = $1");
        sqlx::query(&q)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(flavor_row)
            .transpose()
    }

    /// All flavors ordered as Nova lists them (by flavor ID).
    pub async fn flavors(&self) -> Result<Vec<Flavor>> {
        let q = format!("SELECT {COLS} FROM flavors ORDER BY id");
        sqlx::query(&q)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(flavor_row)
            .collect()
    }

    pub async fn delete_flavor(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM site_flavors WHERE flavor_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM flavors WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The site's flavor for a top flavor.
    pub async fn site_flavor(&self, flavor_id: &str, site_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT site_flavor_id FROM site_flavors WHERE flavor_id = $1 AND site_id = $2",
        )
        .bind(flavor_id)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("site_flavor_id")).transpose()?)
    }

    /// The top flavor of a site flavor.
    pub async fn top_flavor_of(
        &self,
        site_id: &str,
        site_flavor_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT flavor_id FROM site_flavors WHERE site_id = $1 AND site_flavor_id = $2",
        )
        .bind(site_id)
        .bind(site_flavor_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("flavor_id")).transpose()?)
    }

    pub async fn set_site_flavor(
        &self,
        flavor_id: &str,
        site_id: &str,
        site_flavor_id: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO site_flavors (flavor_id, site_id, site_flavor_id) VALUES ($1, $2, $3) ON CONFLICT (flavor_id, site_id) DO UPDATE SET site_flavor_id = excluded.site_flavor_id")
            .bind(flavor_id)
            .bind(site_id)
            .bind(site_flavor_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
