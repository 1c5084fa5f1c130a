//! Global quotas: per-project limits, and reservations that make a create's claim atomic.
//!
//! Usage is counted from the index (what exists on the sites, as last seen) plus the
//! reservations of creates under way. A reservation names the top resource it is for, and
//! while it is held that resource is counted through the reservation only, so the moment
//! between "written to the index" and "reservation finished" never counts it twice.
//! Reservations of one project are serialised by a lock row (a row lock on PostgreSQL, the
//! write lock on SQLite), so concurrent creates on any number of top nodes cannot overshoot.

use crate::{now_ms, Result, Store};
use sqlx::Row;
use std::collections::BTreeMap;

/// The project ID under which the default limits (the `default` quota class) are kept.
pub const DEFAULT_CLASS: &str = "__default__";

/// One amount a create claims of a resource, with the limit in force (-1 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    pub resource: &'a str,
    pub amount: i64,
    pub limit: i64,
}

/// A claim that would go over its limit, with the figures the error messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub resource: String,
    pub requested: i64,
    /// In use plus reserved, before this claim.
    pub used: i64,
    pub limit: i64,
}

/// What a project uses of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub in_use: i64,
    pub reserved: i64,
}

/// The query counting what a project's existing resources use of `resource` (`$1` the
/// project, `$2` now), leaving out those still counted by a reservation; `None` for
/// resources counted by reservations only.
fn in_use_sql(resource: &str) -> Option<String> {
    let live_servers = "FROM servers WHERE project_id = $1 AND deleted = 0 AND id NOT IN \
         (SELECT resource_id FROM quota_reservations WHERE project_id = $1 AND expires_at > $2)";
    let figure = match resource {
        "instances" => "COUNT(*)",
        "cores" => "COALESCE(SUM(vcpus), 0)",
        "ram" => "COALESCE(SUM(ram), 0)",
        "volumes" | "snapshots" | "gigabytes" => {
            let (kind, figure) = match resource {
                "volumes" => ("kind = 'volume'", "COUNT(*)"),
                "snapshots" => ("kind = 'snapshot'", "COUNT(*)"),
                _ => ("kind IN ('volume', 'snapshot')", "COALESCE(SUM(size), 0)"),
            };
            return Some(format!(
                "SELECT CAST({figure} AS BIGINT) AS n FROM volume_index WHERE project_id = $1 AND {kind} \
                 AND deleted = 0 AND id NOT IN (SELECT resource_id FROM quota_reservations \
                 WHERE project_id = $1 AND expires_at > $2)"
            ));
        }
        "network" | "subnet" | "port" | "router" | "floatingip" | "security_group"
        | "security_group_rule" => {
            return Some(format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM net_resources WHERE project_id = $1 \
                 AND kind = '{resource}' AND id NOT IN (SELECT resource_id FROM quota_reservations \
                 WHERE project_id = $1 AND expires_at > $2)"
            ));
        }
        "server_groups" => {
            return Some(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM server_groups WHERE project_id = $1 AND $2 = $2"
                    .into(),
            )
        }
        _ => return None,
    };
    Some(format!(
        "SELECT CAST({figure} AS BIGINT) AS n {live_servers}"
    ))
}

impl Store {
    /// The limits set for `project_id` (or [`DEFAULT_CLASS`]), by resource.
    pub async fn quota_limits(&self, project_id: &str) -> Result<BTreeMap<String, i64>> {
        let rows =
            sqlx::query("SELECT resource, hard_limit FROM quota_limits WHERE project_id = $1")
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
            .collect()
    }

    /// Sets the limit of one resource for `project_id` (or [`DEFAULT_CLASS`]).
    pub async fn set_quota_limit(
        &self,
        project_id: &str,
        resource: &str,
        limit: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO quota_limits (project_id, resource, hard_limit) VALUES ($1, $2, $3)
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )
        .bind(project_id)
        .bind(resource)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the limits set for `project_id` (it falls back to the defaults).
    pub async fn delete_quota_limits(&self, project_id: &str, resources: &[&str]) -> Result<()> {
        for r in resources {
            sqlx::query("DELETE FROM quota_limits WHERE project_id = $1 AND resource = $2")
                .bind(project_id)
                .bind(*r)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// What `project_id` uses of `resource` now.
    pub async fn quota_usage(&self, project_id: &str, resource: &str) -> Result<Usage> {
        let mut conn = self.pool.acquire().await?;
        let now = now_ms();
        Ok(Usage {
            in_use: in_use(&mut conn, project_id, resource, now).await?,
            reserved: reserved(&mut conn, project_id, resource, now).await?,
        })
    }

    /// Reserves every claim for the top resource `resource_id`, or none of them: `Ok(Err(..))`
    /// lists the claims that would go over their limits. The reservation lasts `ttl_ms` unless
    /// finished earlier with [`Store::finish_reservation`].
    pub async fn reserve_quota(
        &self,
        project_id: &str,
        resource_id: &str,
        claims: &[Claim<'_>],
        ttl_ms: i64,
    ) -> Result<std::result::Result<String, Vec<Exceeded>>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO quota_locks (project_id, version) VALUES ($1, 1)
             ON CONFLICT (project_id) DO UPDATE SET version = quota_locks.version + 1",
        )
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
        let mut exceeded = Vec::new();
        for c in claims.iter().filter(|c| c.limit >= 0 && c.amount > 0) {
            let used = in_use(&mut tx, project_id, c.resource, now).await?
                + reserved(&mut tx, project_id, c.resource, now).await?;
            if used + c.amount > c.limit {
                exceeded.push(Exceeded {
                    resource: c.resource.to_string(),
                    requested: c.amount,
                    used,
                    limit: c.limit,
                });
            }
        }
        if !exceeded.is_empty() {
            tx.rollback().await?;
            return Ok(Err(exceeded));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        for c in claims.iter().filter(|c| c.amount > 0) {
            sqlx::query(
                "INSERT INTO quota_reservations (id, project_id, resource, resource_id, amount, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(project_id)
            .bind(c.resource)
            .bind(resource_id)
            .bind(c.amount)
            .bind(now + ttl_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(id))
    }

    /// Ends a reservation: the resource now counts through the index (commit), or was never
    /// made (release). Either way the claim stops counting.
    pub async fn finish_reservation(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM quota_reservations WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops reservations that expired (their creates died with a node).
    pub async fn purge_expired_reservations(&self) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM quota_reservations WHERE expires_at <= $1")
                .bind(now_ms())
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

async fn in_use(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    resource: &str,
    now: i64,
) -> Result<i64> {
    let Some(sql) = in_use_sql(resource) else {
        return Ok(0);
    };
    Ok(sqlx::query(&sql)
        .bind(project_id)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?)
}

async fn reserved(
    conn: &mut sqlx::AnyConnection,
    project_id: &str,
    resource: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS n FROM quota_reservations
         WHERE project_id = $1 AND resource = $2 AND expires_at > $3",
    )
    .bind(project_id)
    .bind(resource)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servers::ServerRow;
    use crate::test_store;
    use serde_json::json;

    fn claims(limit: i64) -> [Claim<'static>; 2] {
        [
            Claim {
                resource: "instances",
                amount: 1,
                limit,
            },
            Claim {
                resource: "cores",
                amount: 2,
                limit: -1,
            },
        ]
    }

    fn server(id: &str) -> ServerRow {
        ServerRow {
            id: id.into(),
            project_id: "p".into(),
            user_id: "u".into(),
            site_id: Some("s".into()),
            name: id.into(),
            status: "ACTIVE".into(),
            image_id: None,
            flavor_id: None,
            host: None,
            server_group_id: None,
            vcpus: 2,
            ram: 1024,
            deleted: false,
            created_at: 1,
            updated_at: 1,
            body: json!({}),
        }
    }

    #[tokio::test]
    async fn concurrent_reservations_never_exceed_the_limit() {
        let store = test_store().await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .reserve_quota("p", &format!("s{i}"), &claims(7), 60_000)
                        .await
                        .expect("store")
                })
            })
            .collect();
        let mut granted = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => granted += 1,
                Err(over) => {
                    assert_eq!(over.len(), 1);
                    assert_eq!(over[0].resource, "instances");
                    assert_eq!((over[0].used, over[0].limit), (7, 7));
                    refused += 1;
                }
            }
        }
        assert_eq!((granted, refused), (7, 33));
        let u = store.quota_usage("p", "cores").await.expect("usage");
        assert_eq!(
            u,
            Usage {
                in_use: 0,
                reserved: 14
            }
        );
    }

    #[tokio::test]
    async fn a_committed_server_counts_once_and_a_released_claim_not_at_all() {
        let store = test_store().await;
        let r1 = store
            .reserve_quota("p", "a", &claims(2), 60_000)
            .await
            .unwrap()
            .unwrap();
        // Indexed while still reserved: counted once, through the reservation.
        store.upsert_server(&server("a")).await.unwrap();
        let u = store.quota_usage("p", "instances").await.unwrap();
        assert_eq!(
            u,
            Usage {
                in_use: 0,
                reserved: 1
            }
        );
        store.finish_reservation(&r1).await.unwrap();
        let u = store.quota_usage("p", "cores").await.unwrap();
        assert_eq!(
            u,
            Usage {
                in_use: 2,
                reserved: 0
            }
        );
        // A claim released without a server frees its room.
        let r2 = store
            .reserve_quota("p", "b", &claims(2), 60_000)
            .await
            .unwrap()
            .unwrap();
        assert!(store
            .reserve_quota("p", "c", &claims(2), 60_000)
            .await
            .unwrap()
            .is_err());
        store.finish_reservation(&r2).await.unwrap();
        assert!(store
            .reserve_quota("p", "c", &claims(2), 60_000)
            .await
            .unwrap()
            .is_ok());
        // A deleted server stops counting.
        store.mark_server_deleted("a").await.unwrap();
        assert_eq!(store.quota_usage("p", "instances").await.unwrap().in_use, 0);
    }

    #[tokio::test]
    async fn expired_reservations_stop_counting() {
        let store = test_store().await;
        store
            .reserve_quota("p", "a", &claims(1), -1)
            .await
            .unwrap()
            .unwrap();
        assert!(store
            .reserve_quota("p", "b", &claims(1), 60_000)
            .await
            .unwrap()
            .is_ok());
        // The expired reservation's two rows (instances and cores) go; the live one stays.
        assert_eq!(store.purge_expired_reservations().await.unwrap(), 2);
        assert_eq!(
            store.quota_usage("p", "instances").await.unwrap().reserved,
            1
        );
    }

    #[tokio::test]
    async fn limits_are_kept_per_project_and_reverted() {
        let store = test_store().await;
        store.set_quota_limit("p", "instances", 5).await.unwrap();
        store.set_quota_limit("p", "instances", 6).await.unwrap();
        store
            .set_quota_limit(DEFAULT_CLASS, "cores", 40)
            .await
            .unwrap();
        assert_eq!(
            store.quota_limits("p").await.unwrap().get("instances"),
            Some(&6)
        );
        store
            .delete_quota_limits("p", &["instances"])
            .await
            .unwrap();
        assert!(store.quota_limits("p").await.unwrap().is_empty());
        assert_eq!(
            store
                .quota_limits(DEFAULT_CLASS)
                .await
                .unwrap()
                .get("cores"),
            Some(&40)
        );
    }
}
