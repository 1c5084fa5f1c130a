//! Images of the top and their copies on sites.

use crate::{json_col, now_ms, Result, Store};
use serde_json::Value;
use sqlx::Row;

/// A top image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    pub id: String,
    pub name: Option<String>,
    pub owner: String,
    pub visibility: String,
    pub status: String,
    /// Replication policy: `eager`, `on-demand` or `register`.
    pub policy: String,
    pub size: Option<i64>,
    pub checksum: Option<String>,
    /// sha512 of the data.
    pub hash_value: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub protected: bool,
    pub tags: Vec<String>,
    /// Extra properties (Glance's free-form attributes).
    pub properties: serde_json::Map<String, Value>,
    /// True when the top holds the data itself (uploaded to the top).
    pub local_data: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An image's copy on a site.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCopy {
    pub image_id: String,
    pub site_id: String,
    pub site_image_id: String,
    /// `pending`, `copying`, `active` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub attempts: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, name, owner, visibility, status, policy, size, checksum, hash_value, disk_format, container_format, min_disk, min_ram, protected, tags, properties, local_data, created_at, updated_at";

fn image_row(r: &sqlx::any::AnyRow) -> Result<ImageRow> {
    Ok(ImageRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        owner: r.try_get("owner")?,
        visibility: r.try_get("visibility")?,
        status: r.try_get("status")?,
        policy: r.try_get("policy")?,
        size: r.try_get("size")?,
        checksum: r.try_get("checksum")?,
        hash_value: r.try_get("hash_value")?,
        disk_format: r.try_get("disk_format")?,
        container_format: r.try_get("container_format")?,
        min_disk: r.try_get("min_disk")?,
        min_ram: r.try_get("min_ram")?,
        protected: r.try_get::<i64, _>("protected")? != 0,
        tags: json_col(&r.try_get::<String, _>("tags")?)?,
        properties: json_col(&r.try_get::<String, _>("properties")?)?,
        local_data: r.try_get::<i64, _>("local_data")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn copy_row(r: &sqlx::any::AnyRow) -> Result<ImageCopy> {
    Ok(ImageCopy {
        image_id: r.try_get("image_id")?,
        site_id: r.try_get("site_id")?,
        site_image_id: r.try_get("site_image_id")?,
        state: r.try_get("state")?,
        error: r.try_get("error")?,
        attempts: r.try_get("attempts")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Inserts or replaces an image.
    pub async fn upsert_image(&self, i: &ImageRow) -> Result<()> {
        let q = format!(
            "INSERT INTO images ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, owner = excluded.owner, visibility = excluded.visibility,
             status = excluded.status, policy = excluded.policy, size = excluded.size, checksum = excluded.checksum,
             hash_value = excluded.hash_value, disk_format = excluded.disk_format, container_format = excluded.container_format,
             min_disk = excluded.min_disk, min_ram = excluded.min_ram, protected = excluded.protected, tags = excluded.tags,
             properties = excluded.properties, local_data = excluded.local_data, updated_at = excluded.updated_at"
        );
        sqlx::query(&q)
            .bind(&i.id)
            .bind(&i.name)
            .bind(&i.owner)
            .bind(&i.visibility)
            .bind(&i.status)
            .bind(&i.policy)
            .bind(i.size)
            .bind(&i.checksum)
            .bind(&i.hash_value)
            .bind(&i.disk_format)
            .bind(&i.container_format)
            .bind(i.min_disk)
            .bind(i.min_ram)
            .bind(i.protected as i64)
            .bind(serde_json::to_string(&i.tags).unwrap_or_else(|_| "[]".into()))
            .bind(Value::Object(i.properties.clone()).to_string())
            .bind(i.local_data as i64)
            .bind(i.created_at)
            .bind(i.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn image(&self, id: &str) -> Result<Option<ImageRow>> {
        let q = format!("SELECT {COLS} FROM images WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(image_row)
            .transpose()
    }

    /// Images a project may see (its own, public, community; all for `None`), newest first,
    /// after the (created_at, id) of `after`, at most `limit`.
    pub async fn visible_images(
        &self,
        project_id: Option<&str>,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<ImageRow>> {
        let (c, i) = after.unwrap_or((i64::MAX, String::new()));
        let first = i.is_empty();
        let q = format!(
            "SELECT {COLS} FROM images WHERE ($1 IS NULL OR owner = $1 OR visibility IN ('public', 'community'))
             AND ($2 = 1 OR created_at < $3 OR (created_at = $3 AND id < $4))
             ORDER BY created_at DESC, id DESC LIMIT {}",
            limit.max(0)
        );
        sqlx::query(&q)
            .bind(project_id)
            .bind(first as i64)
            .bind(c)
            .bind(i)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(image_row)
            .collect()
    }

    pub async fn delete_image(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM image_copies WHERE image_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records (or updates) an image's copy on a site.
    pub async fn set_image_copy(&self, c: &ImageCopy) -> Result<()> {
        sqlx::query("INSERT INTO image_copies (image_id, site_id, site_image_id, state, error, attempts, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (image_id, site_id) DO UPDATE SET site_image_id = excluded.site_image_id, state = excluded.state, error = excluded.error, attempts = excluded.attempts, updated_at = excluded.updated_at")
            .bind(&c.image_id)
            .bind(&c.site_id)
            .bind(&c.site_image_id)
            .bind(&c.state)
            .bind(&c.error)
            .bind(c.attempts)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn image_copy(&self, image_id: &str, site_id: &str) -> Result<Option<ImageCopy>> {
        sqlx::query("SELECT image_id, site_id, site_image_id, state, error, attempts, updated_at FROM image_copies WHERE image_id = $1 AND site_id = $2")
            .bind(image_id)
            .bind(site_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(copy_row)
            .transpose()
    }

    pub async fn image_copies(&self, image_id: &str) -> Result<Vec<ImageCopy>> {
        sqlx::query("SELECT image_id, site_id, site_image_id, state, error, attempts, updated_at FROM image_copies WHERE image_id = $1 ORDER BY site_id")
            .bind(image_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(copy_row)
            .collect()
    }

    /// Copies in a state across all images (e.g. `pending` copies to run).
    pub async fn image_copies_in_state(&self, state: &str) -> Result<Vec<ImageCopy>> {
        sqlx::query("SELECT image_id, site_id, site_image_id, state, error, attempts, updated_at FROM image_copies WHERE state = $1 ORDER BY updated_at")
            .bind(state)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(copy_row)
            .collect()
    }

    /// The top image of a site image.
    pub async fn top_image_of(&self, site_id: &str, site_image_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT image_id FROM image_copies WHERE site_id = $1 AND site_image_id = $2",
        )
        .bind(site_id)
        .bind(site_image_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("image_id")).transpose()?)
    }
}
