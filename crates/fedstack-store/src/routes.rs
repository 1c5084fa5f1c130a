//! Routing: top resource ID → (site, site resource ID).
//!
//! A route is written in state `creating` before the site resource exists, so that a crash
//! between the two leaves a row to repair rather than an untracked site resource.

use crate::{now_ms, Result, Store};
use sqlx::Row;

/// Kinds of routed resources.
pub mod kind {
    pub const SERVER: &str = "server";
    pub const VOLUME: &str = "volume";
    pub const PORT: &str = "port";
}

/// Route states.
pub mod state {
    /// Written before the site call; the site resource may or may not exist yet.
    pub const CREATING: &str = "creating";
    /// The site resource exists and is known.
    pub const ACTIVE: &str = "active";
    /// Deletion on the site is under way.
    pub const DELETING: &str = "deleting";
    /// No site could take it (e.g. no valid host); nothing exists on any site.
    pub const UNPLACED: &str = "unplaced";
}

/// One routing row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: String,
    pub top_id: String,
    pub site_id: Option<String>,
    pub site_resource_id: Option<String>,
    pub project_id: String,
    pub state: String,
    pub created_at: i64,
}

fn route_row(r: &sqlx::any::AnyRow) -> Result<Route> {
    Ok(Route {
        kind: r.try_get("kind")?,
        top_id: r.try_get("top_id")?,
        site_id: r.try_get("site_id")?,
        site_resource_id: r.try_get("site_resource_id")?,
        project_id: r.try_get("project_id")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
    })
}

const COLS: &str = "kind, top_id, site_id, site_resource_id, project_id, state, created_at";

impl Store {
    /// Writes a new route.
    pub async fn insert_route(&self, r: &Route) -> Result<()> {
        sqlx::query("INSERT INTO routes (kind, top_id, site_id, site_resource_id, project_id, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
            .bind(&r.kind)
            .bind(&r.top_id)
            .bind(&r.site_id)
            .bind(&r.site_resource_id)
            .bind(&r.project_id)
            .bind(&r.state)
            .bind(r.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Points a route at its site resource (and state).
    pub async fn set_route(
        &self,
        kind: &str,
        top_id: &str,
        site_id: Option<&str>,
        site_resource_id: Option<&str>,
        state: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE routes SET site_id = $3, site_resource_id = $4, state = $5, updated_at = $6 WHERE kind = $1 AND top_id = $2")
            .bind(kind)
            .bind(top_id)
            .bind(site_id)
            .bind(site_resource_id)
            .bind(state)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn route(&self, kind: &str, top_id: &str) -> Result<Option<Route>> {
        let q = format!("SELECT {COLS} FROM routes WHERE kind = $1 AND top_id = $2");
        sqlx::query(&q)
            .bind(kind)
            .bind(top_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(route_row)
            .transpose()
    }

    /// The route of a site resource.
    pub async fn route_by_site_id(
        &self,
        kind: &str,
        site_id: &str,
        site_resource_id: &str,
    ) -> Result<Option<Route>> {
        let q = format!(
            "SELECT {COLS} FROM routes WHERE site_id = $1 AND kind = $2 AND site_resource_id = $3"
        );
        sqlx::query(&q)
            .bind(site_id)
            .bind(kind)
            .bind(site_resource_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(route_row)
            .transpose()
    }

    /// Routes of a site in a state (e.g. `creating` rows to repair after a crash).
    pub async fn routes_in_state(&self, kind: &str, state: &str) -> Result<Vec<Route>> {
        let q = format!("SELECT {COLS} FROM routes WHERE kind = $1 AND state = $2");
        sqlx::query(&q)
            .bind(kind)
            .bind(state)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(route_row)
            .collect()
    }

    /// Number of routes of a site (resources the site still holds for the top).
    pub async fn count_routes_on_site(&self, site_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM routes WHERE site_id = $1 AND state <> 'unplaced'",
        )
        .bind(site_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn delete_route(&self, kind: &str, top_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM routes WHERE kind = $1 AND top_id = $2")
            .bind(kind)
            .bind(top_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes every route of a site (forced site removal).
    pub async fn delete_routes_of_site(&self, site_id: &str) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM routes WHERE site_id = $1")
            .bind(site_id)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;

    #[tokio::test]
    async fn route_lifecycle() {
        let s = test_store().await;
        let r = Route {
            kind: kind::SERVER.into(),
            top_id: "t1".into(),
            site_id: Some("s1".into()),
            site_resource_id: None,
            project_id: "p".into(),
            state: state::CREATING.into(),
            created_at: now_ms(),
        };
        s.insert_route(&r).await.unwrap();
        assert!(s.insert_route(&r).await.is_err(), "a top ID is routed once");
        assert_eq!(
            s.routes_in_state(kind::SERVER, state::CREATING)
                .await
                .unwrap()
                .len(),
            1
        );
        s.set_route(
            kind::SERVER,
            "t1",
            Some("s1"),
            Some("site-9"),
            state::ACTIVE,
        )
        .await
        .unwrap();
        let got = s
            .route_by_site_id(kind::SERVER, "s1", "site-9")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.top_id, "t1");
        assert_eq!(got.state, state::ACTIVE);
        assert_eq!(s.count_routes_on_site("s1").await.unwrap(), 1);
        s.delete_route(kind::SERVER, "t1").await.unwrap();
        assert!(s.route(kind::SERVER, "t1").await.unwrap().is_none());
    }
}
