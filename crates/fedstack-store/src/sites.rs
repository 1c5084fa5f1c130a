//! Registered sites and each top project's project on them.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;

/// A registered site. `credentials` is sealed (encrypted) by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteRecord {
    pub id: String,
    pub name: String,
    /// The availability zone the site appears as at the top.
    pub az: String,
    pub auth_url: String,
    pub region: Option<String>,
    pub interface: String,
    pub credentials: String,
    pub labels: BTreeMap<String, String>,
    pub enabled: bool,
    pub drained: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, name, az, auth_url, region, interface, credentials, labels, enabled, drained, created_at, updated_at";

fn site_row(r: &sqlx::any::AnyRow) -> Result<SiteRecord> {
    Ok(SiteRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        az: r.try_get("az")?,
        auth_url: r.try_get("auth_url")?,
        region: r.try_get("region")?,
        interface: r.try_get("interface")?,
        credentials: r.try_get("credentials")?,
        labels: json_col(&r.try_get::<String, _>("labels")?)?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        drained: r.try_get::<i64, _>("drained")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Registers a site; a taken name or AZ is a conflict.
    pub async fn create_site(&self, s: &SiteRecord) -> Result<()> {
        let q = format!(
            "INSERT INTO sites ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        sqlx::query(&q)
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.az)
            .bind(&s.auth_url)
            .bind(&s.region)
            .bind(&s.interface)
            .bind(&s.credentials)
            .bind(serde_json::to_string(&s.labels).unwrap_or_else(|_| "{}".into()))
            .bind(s.enabled as i64)
            .bind(s.drained as i64)
            .bind(s.created_at)
            .bind(s.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                conflict_on_unique(
                    e,
                    &format!("site name {} or availability zone {}", s.name, s.az),
                )
            })?;
        Ok(())
    }

    /// Replaces a site's attributes.
    pub async fn update_site(&self, s: &SiteRecord) -> Result<()> {
        sqlx::query("UPDATE sites SET name = $2, az = $3, auth_url = $4, region = $5, interface = $6, credentials = $7, labels = $8, enabled = $9, drained = $10, updated_at = $11 WHERE id = $1")
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.az)
            .bind(&s.auth_url)
            .bind(&s.region)
            .bind(&s.interface)
            .bind(&s.credentials)
            .bind(serde_json::to_string(&s.labels).unwrap_or_else(|_| "{}".into()))
            .bind(s.enabled as i64)
            .bind(s.drained as i64)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &format!("site name {} or availability zone {}", s.name, s.az)))?;
        Ok(())
    }

    pub async fn sites(&self) -> Result<Vec<SiteRecord>> {
        let q = format!("SELECT {COLS} FROM sites ORDER BY name");
        sqlx::query(&q)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(site_row)
            .collect()
    }

    pub async fn site(&self, id: &str) -> Result<Option<SiteRecord>> {
        let q = format!("SELECT {COLS} FROM sites WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(site_row)
            .transpose()
    }

    /// Deletes a site and what the top kept about it (project mapping, flavor and image copies).
    pub async fn delete_site(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for table in [
            "site_projects",
            "site_flavors",
            "image_copies",
            "sync_marks",
            "site_server_groups",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE site_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let n = sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The site project of a top project, if created.
    pub async fn site_project(&self, project_id: &str, site_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT site_project_id FROM site_projects WHERE project_id = $1 AND site_id = $2",
        )
        .bind(project_id)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("site_project_id")).transpose()?)
    }

    /// Records the site project of a top project; the first record wins.
    pub async fn set_site_project(
        &self,
        project_id: &str,
        site_id: &str,
        site_project_id: &str,
    ) -> Result<String> {
        sqlx::query("INSERT INTO site_projects (project_id, site_id, site_project_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(project_id)
            .bind(site_id)
            .bind(site_project_id)
            .execute(&self.pool)
            .await?;
        Ok(self
            .site_project(project_id, site_id)
            .await?
            .unwrap_or_else(|| site_project_id.to_string()))
    }

    /// The top project of a site project.
    pub async fn top_project_of(
        &self,
        site_id: &str,
        site_project_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT project_id FROM site_projects WHERE site_id = $1 AND site_project_id = $2",
        )
        .bind(site_id)
        .bind(site_project_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("project_id")).transpose()?)
    }

    /// Every (top project, site project) pair of a site.
    pub async fn site_projects_of_site(&self, site_id: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT project_id, site_project_id FROM site_projects WHERE site_id = $1")
                .bind(site_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("project_id")?, r.try_get("site_project_id")?)))
            .collect()
    }

    /// Where the incremental sync of `kind` on a site stands.
    pub async fn sync_mark(&self, site_id: &str, kind: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT since FROM sync_marks WHERE site_id = $1 AND kind = $2")
            .bind(site_id)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("since")).transpose()?)
    }

    pub async fn set_sync_mark(&self, site_id: &str, kind: &str, since: &str) -> Result<()> {
        sqlx::query("INSERT INTO sync_marks (site_id, kind, since) VALUES ($1, $2, $3) ON CONFLICT (site_id, kind) DO UPDATE SET since = excluded.since")
            .bind(site_id)
            .bind(kind)
            .bind(since)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
