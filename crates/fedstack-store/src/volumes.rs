//! Block storage at the top: the index of every site's volumes and snapshots (answered to
//! lists, kept when a site is down) and the top's volume types with their copy on each site.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
use serde_json::Value;
use sqlx::Row;

/// Kinds of indexed block storage records (also their route kinds).
pub mod kind {
    pub const VOLUME: &str = crate::routes::kind::VOLUME;
    pub const SNAPSHOT: &str = "snapshot";
}

/// One indexed volume or snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRow {
    /// [`kind::VOLUME`] or [`kind::SNAPSHOT`].
    pub kind: String,
    pub id: String,
    pub project_id: String,
    pub site_id: String,
    pub name: String,
    pub status: String,
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// Cinder's detailed view (admin, newest microversion) in top terms.
    pub body: Value,
}

/// A list query over the index, newest first unless `ascending`.
#[derive(Debug, Clone, Default)]
pub struct VolumeQuery {
    pub kind: String,
    /// None: every project (admin `all_tenants`).
    pub project_id: Option<String>,
    pub site_id: Option<String>,
    pub status: Option<String>,
    pub name: Option<String>,
    /// Rows after this one, in sort order.
    pub after: Option<VolumeRow>,
    pub ascending: bool,
    pub limit: i64,
}

/// A volume type of the top.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: Value,
}

const COLS: &str =
    "kind, id, project_id, site_id, name, status, deleted, created_at, updated_at, body";

fn volume_row(r: &sqlx::any::AnyRow) -> Result<VolumeRow> {
    Ok(VolumeRow {
        kind: r.try_get("kind")?,
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        site_id: r.try_get("site_id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        body: json_col(&r.try_get::<String, _>("body")?)?,
    })
}

fn type_row(r: &sqlx::any::AnyRow) -> Result<VolumeType> {
    Ok(VolumeType {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        is_public: r.try_get::<i64, _>("is_public")? != 0,
        extra_specs: json_col(&r.try_get::<String, _>("extra_specs")?)?,
    })
}

const TYPE_COLS: &str = "id, name, description, is_public, extra_specs";

impl Store {
    /// Inserts or replaces an indexed volume or snapshot.
    pub async fn upsert_volume_row(&self, v: &VolumeRow) -> Result<()> {
        let q = format!(
            "INSERT INTO volume_index ({COLS}, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (kind, id) DO UPDATE SET project_id = excluded.project_id, site_id = excluded.site_id,
             name = excluded.name, status = excluded.status, deleted = excluded.deleted,
             updated_at = excluded.updated_at, body = excluded.body, size = excluded.size"
        );
        sqlx::query(&q)
            .bind(&v.kind)
            .bind(&v.id)
            .bind(&v.project_id)
            .bind(&v.site_id)
            .bind(&v.name)
            .bind(&v.status)
            .bind(v.deleted as i64)
            .bind(v.created_at)
            .bind(v.updated_at)
            .bind(v.body.to_string())
            // The size (GiB) is kept apart for the gigabytes quota.
            .bind(v.body.get("size").and_then(Value::as_i64).unwrap_or(0))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An indexed volume or snapshot (deleted ones included).
    pub async fn volume_row(&self, kind: &str, id: &str) -> Result<Option<VolumeRow>> {
        let q = format!("SELECT {COLS} FROM volume_index WHERE kind = $1 AND id = $2");
        sqlx::query(&q)
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(volume_row)
            .transpose()
    }

    /// Marks an indexed record deleted.
    pub async fn mark_volume_row_deleted(&self, kind: &str, id: &str) -> Result<()> {
        sqlx::query("UPDATE volume_index SET deleted = 1, status = 'deleted', updated_at = $3 WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets what the top knew of a site's block storage (the site was removed or replaced
    /// by an empty one): its indexed records are marked deleted and its type copies dropped.
    pub async fn forget_site_volumes(&self, site_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE volume_index SET deleted = 1, status = 'deleted', updated_at = $2 WHERE site_id = $1 AND deleted = 0")
            .bind(site_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM site_volume_types WHERE site_id = $1")
            .bind(site_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of live records in creation order (newest first unless ascending).
    pub async fn list_volume_rows(&self, q: &VolumeQuery) -> Result<Vec<VolumeRow>> {
        let mut sql = format!("SELECT {COLS} FROM volume_index WHERE kind = $1 AND deleted = 0");
        let mut args: Vec<Value> = vec![Value::from(q.kind.clone())];
        for (col, v) in [
            ("project_id", &q.project_id),
            ("site_id", &q.site_id),
            ("status", &q.status),
            ("name", &q.name),
        ] {
            if let Some(v) = v {
                args.push(Value::from(v.clone()));
                sql.push_str(&format!(" AND {col} = ${}", args.len()));
            }
        }
        let (cmp, dir) = if q.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        if let Some(after) = &q.after {
            args.push(Value::from(after.created_at));
            let a = args.len();
            args.push(Value::from(after.id.clone()));
            let b = args.len();
            sql.push_str(&format!(
                " AND (created_at {cmp} ${a} OR (created_at = ${a} AND id {cmp} ${b}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY created_at {dir}, id {dir} LIMIT {}",
            q.limit.max(0)
        ));
        let mut query = sqlx::query(&sql);
        for a in args {
            query = match a {
                Value::Number(n) => query.bind(n.as_i64().unwrap_or_default()),
                other => query.bind(other.as_str().unwrap_or_default().to_string()),
            };
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(volume_row)
            .collect()
    }

    /// Live volumes per site (for placing a new volume).
    pub async fn volumes_per_site(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT site_id, COUNT(*) AS n FROM volume_index WHERE kind = 'volume' AND deleted = 0 GROUP BY site_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("site_id")?, r.try_get("n")?)))
            .collect()
    }

    /// `(top ID, site resource ID)` of the routes of `kind` on a site that point at a site
    /// record (active or deleting), for finding the records a site no longer has.
    pub async fn routed_on_site(&self, kind: &str, site_id: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT top_id, site_resource_id FROM routes WHERE site_id = $1 AND kind = $2 AND site_resource_id IS NOT NULL AND state IN ('active', 'deleting')")
            .bind(site_id)
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("top_id")?, r.try_get("site_resource_id")?)))
            .collect()
    }

    /// Creates a volume type; a taken name is a conflict.
    pub async fn create_volume_type(&self, t: &VolumeType) -> Result<()> {
        sqlx::query("INSERT INTO volume_types (id, name, description, is_public, extra_specs, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.description)
            .bind(t.is_public as i64)
            .bind(t.extra_specs.to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &t.name))?;
        Ok(())
    }

    /// Volume types in creation order.
    pub async fn volume_types(&self) -> Result<Vec<VolumeType>> {
        let q = format!("SELECT {TYPE_COLS} FROM volume_types ORDER BY created_at, id");
        sqlx::query(&q)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(type_row)
            .collect()
    }

    /// A volume type by ID or name.
    pub async fn volume_type(&self, id_or_name: &str) -> Result<Option<VolumeType>> {
        let q = format!("SELECT {TYPE_COLS} FROM volume_types WHERE id = $1 OR name = $1");
        sqlx::query(&q)
            .bind(id_or_name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(type_row)
            .transpose()
    }

    /// Replaces the extra specs of a volume type.
    pub async fn set_volume_type_extra_specs(&self, id: &str, extra_specs: &Value) -> Result<()> {
        sqlx::query("UPDATE volume_types SET extra_specs = $2 WHERE id = $1")
            .bind(id)
            .bind(extra_specs.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sites holding a copy of a volume type, with the copy's ID there.
    pub async fn site_volume_types_of(&self, type_id: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT site_id, site_type_id FROM site_volume_types WHERE type_id = $1")
                .bind(type_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("site_id")?, r.try_get("site_type_id")?)))
            .collect()
    }

    /// Deletes a volume type and its site copies; false when it did not exist.
    pub async fn delete_volume_type(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM site_volume_types WHERE type_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM volume_types WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The site's type standing for a top type.
    pub async fn site_volume_type(&self, type_id: &str, site_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT site_type_id FROM site_volume_types WHERE type_id = $1 AND site_id = $2",
        )
        .bind(type_id)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("site_type_id")).transpose()?)
    }

    /// Records the site's type standing for a top type.
    pub async fn set_site_volume_type(
        &self,
        type_id: &str,
        site_id: &str,
        site_type_id: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO site_volume_types (type_id, site_id, site_type_id) VALUES ($1, $2, $3) ON CONFLICT (type_id, site_id) DO UPDATE SET site_type_id = excluded.site_type_id")
            .bind(type_id)
            .bind(site_id)
            .bind(site_type_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The top type of a site type.
    pub async fn top_volume_type_of(
        &self,
        site_id: &str,
        site_type_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT type_id FROM site_volume_types WHERE site_id = $1 AND site_type_id = $2",
        )
        .bind(site_id)
        .bind(site_type_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("type_id")).transpose()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;
    use serde_json::json;

    fn row(id: &str, project: &str, created: i64) -> VolumeRow {
        VolumeRow {
            kind: kind::VOLUME.into(),
            id: id.into(),
            project_id: project.into(),
            site_id: "s1".into(),
            name: format!("n-{id}"),
            status: "available".into(),
            deleted: false,
            created_at: created,
            updated_at: created,
            body: json!({"id": id}),
        }
    }

    #[tokio::test]
    async fn volumes_page_newest_first_per_project() {
        let s = test_store().await;
        for i in 0..7 {
            s.upsert_volume_row(&row(&format!("v{i}"), "A", 100 + i))
                .await
                .unwrap();
        }
        s.upsert_volume_row(&row("other", "B", 500)).await.unwrap();
        let mut q = VolumeQuery {
            kind: kind::VOLUME.into(),
            project_id: Some("A".into()),
            limit: 3,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.list_volume_rows(&q).await.unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.iter().map(|r| r.id.clone()));
            q.after = page.last().cloned();
        }
        assert_eq!(seen, ["v6", "v5", "v4", "v3", "v2", "v1", "v0"]);
        s.mark_volume_row_deleted(kind::VOLUME, "v6").await.unwrap();
        q.after = None;
        q.limit = 100;
        q.name = Some("n-v6".into());
        assert!(s.list_volume_rows(&q).await.unwrap().is_empty());
        assert!(
            s.volume_row(kind::VOLUME, "v6")
                .await
                .unwrap()
                .unwrap()
                .deleted
        );
        assert_eq!(
            s.volumes_per_site().await.unwrap(),
            vec![("s1".to_string(), 7)]
        );
        let route = crate::routes::Route {
            kind: kind::VOLUME.into(),
            top_id: "v0".into(),
            site_id: Some("s1".into()),
            site_resource_id: Some("site-v0".into()),
            project_id: "A".into(),
            state: crate::routes::state::ACTIVE.into(),
            created_at: 0,
        };
        s.insert_route(&route).await.unwrap();
        s.insert_route(&crate::routes::Route {
            top_id: "v1".into(),
            site_resource_id: None,
            state: crate::routes::state::CREATING.into(),
            ..route
        })
        .await
        .unwrap();
        assert_eq!(
            s.routed_on_site(kind::VOLUME, "s1").await.unwrap(),
            vec![("v0".to_string(), "site-v0".to_string())]
        );
        s.forget_site_volumes("s1").await.unwrap();
        assert!(s.volumes_per_site().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn types_have_the_default_and_site_copies() {
        let s = test_store().await;
        let default = s.volume_type("__DEFAULT__").await.unwrap().unwrap();
        assert_eq!(s.volume_type(&default.id).await.unwrap(), Some(default));
        let t = VolumeType {
            id: "t1".into(),
            name: "fast".into(),
            description: None,
            is_public: true,
            extra_specs: json!({"k": "v"}),
        };
        s.create_volume_type(&t).await.unwrap();
        assert!(matches!(
            s.create_volume_type(&VolumeType {
                id: "t2".into(),
                ..t.clone()
            })
            .await,
            Err(crate::StoreError::Conflict(_))
        ));
        s.set_site_volume_type("t1", "s1", "site-t").await.unwrap();
        s.set_volume_type_extra_specs("t1", &json!({"a": "b"}))
            .await
            .unwrap();
        assert_eq!(
            s.volume_type("fast").await.unwrap().unwrap().extra_specs,
            json!({"a": "b"})
        );
        assert_eq!(
            s.site_volume_types_of("t1").await.unwrap(),
            vec![("s1".to_string(), "site-t".to_string())]
        );
        assert_eq!(
            s.top_volume_type_of("s1", "site-t")
                .await
                .unwrap()
                .as_deref(),
            Some("t1")
        );
        s.forget_site_volumes("s1").await.unwrap();
        assert!(s.site_volume_type("t1", "s1").await.unwrap().is_none());
        s.set_site_volume_type("t1", "s1", "site-t").await.unwrap();
        assert!(s.delete_volume_type("t1").await.unwrap());
        assert!(s.site_volume_type("t1", "s1").await.unwrap().is_none());
        assert_eq!(s.volume_types().await.unwrap().len(), 1);
    }
}
