//! Images of the top and their copies on sites.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
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

    /// Inserts a new image; [`crate::StoreError::Conflict`] when its ID is taken.
    pub async fn insert_image(&self, i: &ImageRow) -> Result<()> {
        let q = format!(
            "INSERT INTO images ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
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
            .await
            .map_err(|e| conflict_on_unique(e, "image ID"))?;
        Ok(())
    }

    /// Images with a replication policy (e.g. every `register` image).
    pub async fn images_with_policy(&self, policy: &str) -> Result<Vec<ImageRow>> {
        let q = format!("SELECT {COLS} FROM images WHERE policy = $1 ORDER BY created_at, id");
        sqlx::query(&q)
            .bind(policy)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(image_row)
            .collect()
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

    /// Forgets an image's copy on a site. True if there was one.
    pub async fn delete_image_copy(&self, image_id: &str, site_id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM image_copies WHERE image_id = $1 AND site_id = $2")
            .bind(image_id)
            .bind(site_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
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

    /// Every image copy on a site.
    pub async fn image_copies_of_site(&self, site_id: &str) -> Result<Vec<ImageCopy>> {
        sqlx::query("SELECT image_id, site_id, site_image_id, state, error, attempts, updated_at FROM image_copies WHERE site_id = $1 ORDER BY image_id")
            .bind(site_id)
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

    /// A registered image with this name and data (sha512), if any: the same public image
    /// found on several sites is one top image with a copy on each.
    pub async fn registered_twin(&self, name: &str, hash_value: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT id FROM images WHERE policy = 'register' AND name = $1 AND hash_value = $2 ORDER BY created_at, id LIMIT 1")
            .bind(name)
            .bind(hash_value)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("id")).transpose()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{test_store, StoreError};

    fn image(id: &str, owner: &str, visibility: &str, policy: &str, created_at: i64) -> ImageRow {
        ImageRow {
            id: id.into(),
            name: Some(format!("image {id}")),
            owner: owner.into(),
            visibility: visibility.into(),
            status: "queued".into(),
            policy: policy.into(),
            size: None,
            checksum: None,
            hash_value: None,
            disk_format: Some("raw".into()),
            container_format: Some("bare".into()),
            min_disk: 0,
            min_ram: 0,
            protected: false,
            tags: vec!["t".into()],
            properties: serde_json::Map::from_iter([("k".to_string(), Value::from("v"))]),
            local_data: false,
            created_at,
            updated_at: created_at,
        }
    }

    fn copy(image_id: &str, site_id: &str, state: &str) -> ImageCopy {
        ImageCopy {
            image_id: image_id.into(),
            site_id: site_id.into(),
            site_image_id: image_id.into(),
            state: state.into(),
            error: None,
            attempts: 0,
            updated_at: 0,
        }
    }

    #[tokio::test]
    async fn images_and_copies() {
        let s = test_store().await;
        let a = image("a", "p1", "private", "eager", 1);
        s.insert_image(&a).await.unwrap();
        assert!(matches!(
            s.insert_image(&a).await,
            Err(StoreError::Conflict(_))
        ));
        s.insert_image(&image("b", "p2", "public", "register", 2))
            .await
            .unwrap();
        s.insert_image(&image("c", "p2", "private", "register", 3))
            .await
            .unwrap();
        assert_eq!(s.image("a").await.unwrap().unwrap(), a);
        let visible: Vec<String> = s
            .visible_images(Some("p1"), None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(visible, ["b", "a"]);
        let register: Vec<String> = s
            .images_with_policy("register")
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(register, ["b", "c"]);

        s.set_image_copy(&copy("a", "s1", "pending")).await.unwrap();
        s.set_image_copy(&copy("a", "s2", "active")).await.unwrap();
        assert_eq!(s.image_copies_in_state("pending").await.unwrap().len(), 1);
        assert_eq!(s.image_copies_of_site("s2").await.unwrap().len(), 1);
        assert_eq!(
            s.top_image_of("s2", "a").await.unwrap().as_deref(),
            Some("a")
        );
        assert!(s.delete_image_copy("a", "s1").await.unwrap());
        assert!(!s.delete_image_copy("a", "s1").await.unwrap());
        assert_eq!(s.image_copies("a").await.unwrap().len(), 1);
        assert!(s.delete_image("a").await.unwrap());
        assert!(s.image_copy("a", "s2").await.unwrap().is_none());
    }
}
