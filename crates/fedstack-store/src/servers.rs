//! The server index: every site's servers as last seen, translated to top IDs, answered to
//! lists with keyset pagination so that a million rows page as fast as a hundred. Also the
//! top's server groups.

use crate::{json_col, now_ms, Result, Store};
use serde_json::Value;
use sqlx::Row;

/// One indexed server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    /// None for a server no site could take (ERROR, no valid host).
    pub site_id: Option<String>,
    pub name: String,
    pub status: String,
    pub image_id: Option<String>,
    pub flavor_id: Option<String>,
    pub host: Option<String>,
    pub server_group_id: Option<String>,
    /// vCPUs and RAM (MiB) of the server's flavor, counted against the project's quotas.
    pub vcpus: i64,
    pub ram: i64,
    pub deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
    /// The server document (Nova's detail view) in top terms.
    pub body: Value,
}

/// Columns lists can sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Name,
    Status,
    Id,
    Host,
}

impl SortKey {
    /// Nova's sort_key names.
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "display_name" | "name" => SortKey::Name,
            "vm_state" | "status" => SortKey::Status,
            "uuid" | "id" => SortKey::Id,
            "host" => SortKey::Host,
            _ => return None,
        })
    }
    fn column(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::Id => "id",
            SortKey::Host => "COALESCE(host, '')",
        }
    }
}

/// A list query over the index.
#[derive(Debug, Clone)]
pub struct ServerQuery {
    /// None: every project (admin `all_tenants`).
    pub project_id: Option<String>,
    /// Include deleted rows (Nova's `changes-since`).
    pub include_deleted: bool,
    pub changed_since: Option<i64>,
    pub changed_before: Option<i64>,
    pub status: Option<String>,
    pub image_id: Option<String>,
    pub flavor_id: Option<String>,
    pub host: Option<String>,
    pub site_id: Option<String>,
    pub sort_key: SortKey,
    pub descending: bool,
    /// Rows after this one, in sort order.
    pub after: Option<ServerRow>,
    pub limit: i64,
}

impl Default for ServerQuery {
    fn default() -> Self {
        ServerQuery {
            project_id: None,
            include_deleted: false,
            changed_since: None,
            changed_before: None,
            status: None,
            image_id: None,
            flavor_id: None,
            host: None,
            site_id: None,
            sort_key: SortKey::CreatedAt,
            descending: true,
            after: None,
            limit: 1000,
        }
    }
}

const COLS: &str = "id, project_id, user_id, site_id, name, status, image_id, flavor_id, host, server_group_id, vcpus, ram, deleted, created_at, updated_at, body";

fn server_row(r: &sqlx::any::AnyRow) -> Result<ServerRow> {
    Ok(ServerRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        user_id: r.try_get("user_id")?,
        site_id: r.try_get("site_id")?,
        name: r.try_get("name")?,
        status: r.try_get("status")?,
        image_id: r.try_get("image_id")?,
        flavor_id: r.try_get("flavor_id")?,
        host: r.try_get("host")?,
        server_group_id: r.try_get("server_group_id")?,
        vcpus: r.try_get("vcpus")?,
        ram: r.try_get("ram")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        body: json_col(&r.try_get::<String, _>("body")?)?,
    })
}

/// A top server group.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerGroup {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub policy: String,
    pub rules: Value,
}

impl Store {
    /// Inserts or replaces an indexed server.
    pub async fn upsert_server(&self, s: &ServerRow) -> Result<()> {
        let q = format!(
            "INSERT INTO servers ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (id) DO UPDATE SET project_id = excluded.project_id, user_id = excluded.user_id, site_id = excluded.site_id,
             name = excluded.name, status = excluded.status, image_id = excluded.image_id, flavor_id = excluded.flavor_id,
             host = excluded.host, server_group_id = excluded.server_group_id, vcpus = excluded.vcpus, ram = excluded.ram, deleted = excluded.deleted,
             updated_at = excluded.updated_at, body = excluded.body"
        );
        sqlx::query(&q)
            .bind(&s.id)
            .bind(&s.project_id)
            .bind(&s.user_id)
            .bind(&s.site_id)
            .bind(&s.name)
            .bind(&s.status)
            .bind(&s.image_id)
            .bind(&s.flavor_id)
            .bind(&s.host)
            .bind(&s.server_group_id)
            .bind(s.vcpus)
            .bind(s.ram)
            .bind(s.deleted as i64)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(s.body.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn server(&self, id: &str) -> Result<Option<ServerRow>> {
        let q = format!("SELECT {COLS} FROM servers WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(server_row)
            .transpose()
    }

    /// Marks a server deleted (kept for `changes-since`).
    pub async fn mark_server_deleted(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE servers SET deleted = 1, status = 'DELETED', updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks every live server of a site deleted (the site was replaced by an empty one).
    pub async fn mark_site_servers_deleted(&self, site_id: &str) -> Result<u64> {
        Ok(sqlx::query("UPDATE servers SET deleted = 1, status = 'DELETED', updated_at = $2 WHERE site_id = $1 AND deleted = 0")
            .bind(site_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Removes deleted rows older than `before`.
    pub async fn purge_deleted_servers(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM servers WHERE deleted = 1 AND updated_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// One page of servers in sort order.
    pub async fn list_servers(&self, q: &ServerQuery) -> Result<Vec<ServerRow>> {
        let mut sql = format!("SELECT {COLS} FROM servers WHERE 1 = 1");
        let mut args: Vec<Arg> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, a: Arg| {
            args.push(a);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(p) = &q.project_id {
            push(&mut sql, " AND project_id = ?", Arg::Text(p.clone()));
        }
        if !q.include_deleted {
            sql.push_str(" AND deleted = 0");
        }
        if let Some(t) = q.changed_since {
            push(&mut sql, " AND updated_at >= ?", Arg::Int(t));
        }
        if let Some(t) = q.changed_before {
            push(&mut sql, " AND updated_at <= ?", Arg::Int(t));
        }
        for (col, v) in [
            ("status", &q.status),
            ("image_id", &q.image_id),
            ("flavor_id", &q.flavor_id),
            ("host", &q.host),
            ("site_id", &q.site_id),
        ] {
            if let Some(v) = v {
                push(&mut sql, &format!(" AND {col} = ?"), Arg::Text(v.clone()));
            }
        }
        let col = q.sort_key.column();
        let (cmp, dir) = if q.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(after) = &q.after {
            let v = match q.sort_key {
                SortKey::CreatedAt => Arg::Int(after.created_at),
                SortKey::UpdatedAt => Arg::Int(after.updated_at),
                SortKey::Name => Arg::Text(after.name.clone()),
                SortKey::Status => Arg::Text(after.status.clone()),
                SortKey::Id => Arg::Text(after.id.clone()),
                SortKey::Host => Arg::Text(after.host.clone().unwrap_or_default()),
            };
            args.push(v);
            let a = args.len();
            args.push(Arg::Text(after.id.clone()));
            let b = args.len();
            sql.push_str(&format!(
                " AND ({col} {cmp} ${a} OR ({col} = ${a} AND id {cmp} ${b}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY {col} {dir}, id {dir} LIMIT {}",
            q.limit.max(0)
        ));
        let mut query = sqlx::query(&sql);
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(server_row)
            .collect()
    }

    /// Live servers of a project (or all), for quotas and placement.
    pub async fn count_servers(&self, project_id: Option<&str>) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM servers WHERE deleted = 0 AND ($1 IS NULL OR project_id = $1)")
            .bind(project_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Sites holding live members of a server group, with how many each.
    pub async fn group_sites(&self, group_id: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT site_id, COUNT(*) AS n FROM servers WHERE server_group_id = $1 AND deleted = 0 AND site_id IS NOT NULL GROUP BY site_id")
            .bind(group_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("site_id")?, r.try_get("n")?)))
            .collect()
    }

    /// Live members of a server group.
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM servers WHERE server_group_id = $1 AND deleted = 0 ORDER BY created_at",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    pub async fn create_server_group(&self, g: &ServerGroup) -> Result<()> {
        sqlx::query("INSERT INTO server_groups (id, project_id, user_id, name, policy, rules, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&g.id)
            .bind(&g.project_id)
            .bind(&g.user_id)
            .bind(&g.name)
            .bind(&g.policy)
            .bind(g.rules.to_string())
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn server_group(&self, id: &str) -> Result<Option<ServerGroup>> {
        let row = sqlx::query(
            "SELECT id, project_id, user_id, name, policy, rules FROM server_groups WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(group_row).transpose()
    }

    /// Server groups of a project (or all).
    pub async fn server_groups(&self, project_id: Option<&str>) -> Result<Vec<ServerGroup>> {
        let rows = sqlx::query("SELECT id, project_id, user_id, name, policy, rules FROM server_groups WHERE ($1 IS NULL OR project_id = $1) ORDER BY created_at, id")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(group_row).collect()
    }

    pub async fn delete_server_group(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM site_server_groups WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM server_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The site's server group standing for a top group.
    pub async fn site_server_group(&self, group_id: &str, site_id: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT site_group_id FROM site_server_groups WHERE group_id = $1 AND site_id = $2",
        )
        .bind(group_id)
        .bind(site_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("site_group_id")).transpose()?)
    }

    pub async fn set_site_server_group(
        &self,
        group_id: &str,
        site_id: &str,
        site_group_id: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO site_server_groups (group_id, site_id, site_group_id) VALUES ($1, $2, $3) ON CONFLICT (group_id, site_id) DO UPDATE SET site_group_id = excluded.site_group_id")
            .bind(group_id)
            .bind(site_id)
            .bind(site_group_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The top group of a site group.
    pub async fn top_server_group_of(
        &self,
        site_id: &str,
        site_group_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT group_id FROM site_server_groups WHERE site_id = $1 AND site_group_id = $2",
        )
        .bind(site_id)
        .bind(site_group_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("group_id")).transpose()?)
    }
}

enum Arg {
    Text(String),
    Int(i64),
}

fn group_row(r: &sqlx::any::AnyRow) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        policy: r.try_get("policy")?,
        rules: json_col(&r.try_get::<String, _>("rules")?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;
    use serde_json::json;

    fn row(id: &str, project: &str, created: i64, name: &str) -> ServerRow {
        ServerRow {
            id: id.into(),
            project_id: project.into(),
            user_id: "u".into(),
            site_id: Some("s1".into()),
            name: name.into(),
            status: "ACTIVE".into(),
            image_id: None,
            flavor_id: Some("1".into()),
            host: None,
            server_group_id: None,
            vcpus: 1,
            ram: 512,
            deleted: false,
            created_at: created,
            updated_at: created,
            body: json!({"id": id}),
        }
    }

    #[tokio::test]
    async fn keyset_pages_in_order_and_isolates_projects() {
        let s = test_store().await;
        for i in 0..25 {
            s.upsert_server(&row(
                &format!("a{i:02}"),
                "A",
                1000 + i,
                &format!("n{}", i % 3),
            ))
            .await
            .unwrap();
        }
        s.upsert_server(&row("b0", "B", 5000, "other"))
            .await
            .unwrap();
        let mut q = ServerQuery {
            project_id: Some("A".into()),
            limit: 10,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.list_servers(&q).await.unwrap();
            if page.is_empty() {
                break;
            }
            seen.extend(page.iter().map(|r| r.id.clone()));
            q.after = page.last().cloned();
        }
        let expected: Vec<String> = (0..25).rev().map(|i| format!("a{i:02}")).collect();
        assert_eq!(seen, expected);
        // Sorting by name ascending with ties broken by id, paged by 4.
        let mut q = ServerQuery {
            project_id: Some("A".into()),
            sort_key: SortKey::Name,
            descending: false,
            limit: 4,
            ..Default::default()
        };
        let mut names = Vec::new();
        loop {
            let page = s.list_servers(&q).await.unwrap();
            if page.is_empty() {
                break;
            }
            names.extend(page.iter().map(|r| (r.name.clone(), r.id.clone())));
            q.after = page.last().cloned();
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 25);
        s.mark_server_deleted("a00").await.unwrap();
        assert_eq!(s.count_servers(Some("A")).await.unwrap(), 24);
        let q = ServerQuery {
            project_id: Some("A".into()),
            include_deleted: true,
            limit: 100,
            ..Default::default()
        };
        assert_eq!(s.list_servers(&q).await.unwrap().len(), 25);
    }
}
