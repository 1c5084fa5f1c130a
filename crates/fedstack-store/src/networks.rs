//! Neutron at the top: network resources as documents, the central IPAM (fixed IPs and MAC
//! addresses, unique by constraint) and the pieces each resource has on sites.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
use serde_json::Value;
use sqlx::Row;

/// Kinds of top network resources (also the kinds of their site pieces).
pub mod net_kind {
    pub const NETWORK: &str = "network";
    pub const SUBNET: &str = "subnet";
    pub const PORT: &str = "port";
    pub const SECURITY_GROUP: &str = "security_group";
    pub const SECURITY_GROUP_RULE: &str = "security_group_rule";
    pub const ROUTER: &str = "router";
    pub const FLOATINGIP: &str = "floatingip";
}

/// One top network resource.
#[derive(Debug, Clone, PartialEq)]
pub struct NetResource {
    pub kind: String,
    pub id: String,
    pub project_id: String,
    /// The network of a subnet or port, the group of a rule.
    pub parent_id: Option<String>,
    pub name: String,
    /// The resource as Neutron shows it.
    pub body: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A top network resource's piece on one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePiece {
    pub kind: String,
    pub top_id: String,
    pub site_id: String,
    /// None while the site call is under way.
    pub site_resource_id: Option<String>,
    pub state: String,
}

const COLS: &str = "kind, id, project_id, parent_id, name, body, created_at, updated_at";

fn resource_row(r: &sqlx::any::AnyRow) -> Result<NetResource> {
    let body: String = r.try_get("body")?;
    Ok(NetResource {
        kind: r.try_get("kind")?,
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        parent_id: r.try_get("parent_id")?,
        name: r.try_get("name")?,
        body: json_col(&body)?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn piece_row(r: &sqlx::any::AnyRow) -> Result<SitePiece> {
    Ok(SitePiece {
        kind: r.try_get("kind")?,
        top_id: r.try_get("top_id")?,
        site_id: r.try_get("site_id")?,
        site_resource_id: r.try_get("site_resource_id")?,
        state: r.try_get("state")?,
    })
}

impl Store {
    /// Stores a new network resource.
    pub async fn insert_net_resource(&self, n: &NetResource) -> Result<()> {
        sqlx::query("INSERT INTO net_resources (kind, id, project_id, parent_id, name, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&n.kind)
            .bind(&n.id)
            .bind(&n.project_id)
            .bind(&n.parent_id)
            .bind(&n.name)
            .bind(n.body.to_string())
            .bind(n.created_at)
            .bind(n.updated_at)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &n.id))?;
        Ok(())
    }

    /// Replaces the document (and name) of a network resource.
    pub async fn update_net_resource(&self, n: &NetResource) -> Result<()> {
        sqlx::query("UPDATE net_resources SET name = $3, body = $4, updated_at = $5 WHERE kind = $1 AND id = $2")
            .bind(&n.kind)
            .bind(&n.id)
            .bind(&n.name)
            .bind(n.body.to_string())
            .bind(n.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn net_resource(&self, kind: &str, id: &str) -> Result<Option<NetResource>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM net_resources WHERE kind = $1 AND id = $2"
        ))
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(resource_row)
        .transpose()
    }

    /// Resources of a kind, oldest first; of one project and/or one parent when given.
    pub async fn net_resources(
        &self,
        kind: &str,
        project_id: Option<&str>,
        parent_id: Option<&str>,
    ) -> Result<Vec<NetResource>> {
        sqlx::query(&format!(
            "SELECT {COLS} FROM net_resources WHERE kind = $1 AND ($2 IS NULL OR project_id = $2) AND ($3 IS NULL OR parent_id = $3) ORDER BY created_at, id"
        ))
        .bind(kind)
        .bind(project_id)
        .bind(parent_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(resource_row)
        .collect()
    }

    /// Deletes a resource; false when there was none.
    pub async fn delete_net_resource(&self, kind: &str, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM net_resources WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Gives `ip_address` of a subnet to a port; [`crate::StoreError::Conflict`] when it is
    /// already held.
    pub async fn allocate_ip(
        &self,
        subnet_id: &str,
        ip_address: &str,
        port_id: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO ip_allocations (subnet_id, ip_address, port_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(subnet_id)
            .bind(ip_address)
            .bind(port_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, ip_address))?;
        Ok(())
    }

    /// The addresses of a subnet held by ports.
    pub async fn allocated_ips(&self, subnet_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT ip_address FROM ip_allocations WHERE subnet_id = $1")
            .bind(subnet_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("ip_address")?)).collect()
    }

    /// The port holding an address, if any.
    pub async fn ip_holder(&self, subnet_id: &str, ip_address: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT port_id FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2",
        )
        .bind(subnet_id)
        .bind(ip_address)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("port_id")).transpose()?)
    }

    /// Frees every address of a port (or only those on `subnet_id`).
    pub async fn release_ips(&self, port_id: &str, subnet_id: Option<&str>) -> Result<()> {
        sqlx::query(
            "DELETE FROM ip_allocations WHERE port_id = $1 AND ($2 IS NULL OR subnet_id = $2)",
        )
        .bind(port_id)
        .bind(subnet_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives a MAC address to a port; a conflict when another port has it.
    pub async fn allocate_mac(&self, mac: &str, port_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO mac_allocations (mac, port_id) VALUES ($1, $2)")
            .bind(mac)
            .bind(port_id)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, mac))?;
        Ok(())
    }

    /// Frees the MAC address of a port.
    pub async fn release_mac(&self, port_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM mac_allocations WHERE port_id = $1")
            .bind(port_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a piece before the site call (state `creating`); a conflict when another
    /// caller recorded it first.
    pub async fn insert_piece(&self, kind: &str, top_id: &str, site_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO net_site_pieces (kind, top_id, site_id, site_resource_id, state, created_at) VALUES ($1, $2, $3, NULL, 'creating', $4)")
            .bind(kind)
            .bind(top_id)
            .bind(site_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, top_id))?;
        Ok(())
    }

    /// Points a piece at its site resource and marks it active.
    pub async fn set_piece(
        &self,
        kind: &str,
        top_id: &str,
        site_id: &str,
        site_resource_id: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE net_site_pieces SET site_resource_id = $4, state = 'active' WHERE kind = $1 AND top_id = $2 AND site_id = $3")
            .bind(kind)
            .bind(top_id)
            .bind(site_id)
            .bind(site_resource_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn piece(
        &self,
        kind: &str,
        top_id: &str,
        site_id: &str,
    ) -> Result<Option<SitePiece>> {
        sqlx::query("SELECT kind, top_id, site_id, site_resource_id, state FROM net_site_pieces WHERE kind = $1 AND top_id = $2 AND site_id = $3")
            .bind(kind)
            .bind(top_id)
            .bind(site_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(piece_row)
            .transpose()
    }

    /// Every site piece of a resource.
    pub async fn pieces(&self, kind: &str, top_id: &str) -> Result<Vec<SitePiece>> {
        sqlx::query("SELECT kind, top_id, site_id, site_resource_id, state FROM net_site_pieces WHERE kind = $1 AND top_id = $2 ORDER BY site_id")
            .bind(kind)
            .bind(top_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(piece_row)
            .collect()
    }

    /// The piece of a site resource (site resource ID → top ID).
    pub async fn piece_by_site_id(
        &self,
        kind: &str,
        site_id: &str,
        site_resource_id: &str,
    ) -> Result<Option<SitePiece>> {
        sqlx::query("SELECT kind, top_id, site_id, site_resource_id, state FROM net_site_pieces WHERE site_id = $1 AND kind = $2 AND site_resource_id = $3")
            .bind(site_id)
            .bind(kind)
            .bind(site_resource_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(piece_row)
            .transpose()
    }

    pub async fn delete_piece(&self, kind: &str, top_id: &str, site_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM net_site_pieces WHERE kind = $1 AND top_id = $2 AND site_id = $3")
            .bind(kind)
            .bind(top_id)
            .bind(site_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{test_store, StoreError};
    use serde_json::json;

    #[tokio::test]
    async fn an_address_is_held_once_even_under_concurrent_claims() {
        let s = test_store().await;
        let mut claims = tokio::task::JoinSet::new();
        for i in 0..16 {
            let s = s.clone();
            claims.spawn(async move { s.allocate_ip("sub", "10.0.0.5", &format!("p{i}")).await });
        }
        let results = claims.join_all().await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Conflict(_))));
        s.allocate_ip("other-subnet", "10.0.0.5", "px")
            .await
            .unwrap();
        let holder = s.ip_holder("sub", "10.0.0.5").await.unwrap().unwrap();
        s.release_ips(&holder, None).await.unwrap();
        assert!(s.allocated_ips("sub").await.unwrap().is_empty());
        s.allocate_mac("fa:16:3e:00:00:01", "p1").await.unwrap();
        assert!(s.allocate_mac("fa:16:3e:00:00:01", "p2").await.is_err());
    }

    #[tokio::test]
    async fn resources_and_pieces() {
        let s = test_store().await;
        let n = NetResource {
            kind: net_kind::NETWORK.into(),
            id: "n1".into(),
            project_id: "p".into(),
            parent_id: None,
            name: "net".into(),
            body: json!({"id": "n1"}),
            created_at: 1,
            updated_at: 1,
        };
        s.insert_net_resource(&n).await.unwrap();
        assert!(s.insert_net_resource(&n).await.is_err());
        assert_eq!(
            s.net_resources("network", Some("p"), None).await.unwrap(),
            vec![n.clone()]
        );
        assert!(s
            .net_resources("network", Some("q"), None)
            .await
            .unwrap()
            .is_empty());
        s.insert_piece("network", "n1", "s1").await.unwrap();
        assert!(s.insert_piece("network", "n1", "s1").await.is_err());
        s.set_piece("network", "n1", "s1", "site-n").await.unwrap();
        let p = s
            .piece_by_site_id("network", "s1", "site-n")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((p.top_id.as_str(), p.state.as_str()), ("n1", "active"));
        assert_eq!(s.pieces("network", "n1").await.unwrap().len(), 1);
        s.delete_piece("network", "n1", "s1").await.unwrap();
        assert!(s.delete_net_resource("network", "n1").await.unwrap());
        assert!(s.net_resource("network", "n1").await.unwrap().is_none());
    }
}
