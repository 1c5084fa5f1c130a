//! Registered sites: their records, clients and health.

pub mod api;
pub mod health;

use crate::secrets::SecretBox;
use fedstack_site_client::{SiteAuth, SiteClient, SiteCredentials};
use fedstack_store::sites::SiteRecord;
use fedstack_store::Store;
use parking_lot::RwLock;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What the health checks last found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiteState {
    /// Not checked yet.
    Unknown,
    Up,
    /// Answering, but slowly or with server errors.
    Degraded,
    Down,
}

/// Health and capacity of a site.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub state: SiteState,
    pub latency_ms: Option<u64>,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub error: Option<String>,
    /// Free resources from hypervisor statistics (placement weighs on them).
    pub capacity: Option<Capacity>,
}

/// Free resources of a site.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Capacity {
    pub free_vcpus: i64,
    pub free_ram_mb: i64,
    pub free_disk_gb: i64,
}

/// A registered site with its client.
pub struct SiteHandle {
    pub record: SiteRecord,
    pub client: SiteClient,
    health: RwLock<Health>,
}

impl SiteHandle {
    pub fn id(&self) -> &str {
        &self.record.id
    }
    pub fn name(&self) -> &str {
        &self.record.name
    }
    pub fn health(&self) -> Health {
        self.health.read().clone()
    }
    pub fn set_health(&self, h: Health) {
        *self.health.write() = h;
    }
    /// Takes a flavor's resources off the cached capacity, so that a burst of placements
    /// between two health checks spreads as it should.
    pub fn consume(&self, vcpus: i64, ram_mb: i64, disk_gb: i64) {
        if let Some(c) = self.health.write().capacity.as_mut() {
            c.free_vcpus -= vcpus;
            c.free_ram_mb -= ram_mb;
            c.free_disk_gb -= disk_gb;
        }
    }

    /// True when the last check found the site answering.
    pub fn is_up(&self) -> bool {
        matches!(
            self.health.read().state,
            SiteState::Up | SiteState::Degraded | SiteState::Unknown
        )
    }
    /// True when the site can take new resources: enabled, not drained, not down.
    pub fn schedulable(&self) -> bool {
        self.record.enabled && !self.record.drained && self.is_up()
    }
}

/// The sites known to this node, by ID.
pub struct SiteRegistry {
    sites: RwLock<HashMap<String, Arc<SiteHandle>>>,
    timeout: Duration,
}

/// A site's credentials could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("site {site}: {reason}")]
pub struct RegistryError {
    pub site: String,
    pub reason: String,
}

impl SiteRegistry {
    /// An empty registry whose clients bound calls by `timeout`.
    pub fn new(timeout: Duration) -> Self {
        SiteRegistry {
            sites: RwLock::new(HashMap::new()),
            timeout,
        }
    }

    /// Loads every site of the store.
    pub async fn load(&self, store: &Store, secrets: &SecretBox) -> anyhow::Result<()> {
        for rec in store.sites().await? {
            self.insert(rec, secrets)?;
        }
        Ok(())
    }

    /// Adds or replaces a site (keeping its last health).
    pub fn insert(
        &self,
        record: SiteRecord,
        secrets: &SecretBox,
    ) -> Result<Arc<SiteHandle>, RegistryError> {
        let auth = open_credentials(secrets, &record)?;
        let creds = SiteCredentials {
            auth_url: record.auth_url.clone(),
            region: record.region.clone(),
            interface: record.interface.clone(),
            auth,
        };
        let previous = self.get(&record.id);
        let unchanged = previous
            .as_ref()
            .filter(|p| p.client.credentials() == &creds);
        let client = unchanged
            .map(|p| p.client.clone())
            .unwrap_or_else(|| SiteClient::new(creds, self.timeout));
        let health = previous.map(|p| p.health()).unwrap_or(Health {
            state: SiteState::Unknown,
            latency_ms: None,
            checked_at: None,
            error: None,
            capacity: None,
        });
        let h = Arc::new(SiteHandle {
            record,
            client,
            health: RwLock::new(health),
        });
        self.sites.write().insert(h.record.id.clone(), h.clone());
        Ok(h)
    }

    pub fn remove(&self, id: &str) {
        self.sites.write().remove(id);
    }

    pub fn get(&self, id: &str) -> Option<Arc<SiteHandle>> {
        self.sites.read().get(id).cloned()
    }

    /// A site by ID or name.
    pub fn find(&self, id_or_name: &str) -> Option<Arc<SiteHandle>> {
        self.get(id_or_name).or_else(|| {
            self.sites
                .read()
                .values()
                .find(|s| s.record.name == id_or_name)
                .cloned()
        })
    }

    /// The site shown as availability zone `az`.
    pub fn by_az(&self, az: &str) -> Option<Arc<SiteHandle>> {
        self.sites
            .read()
            .values()
            .find(|s| s.record.az == az)
            .cloned()
    }

    /// All sites, by name.
    pub fn all(&self) -> Vec<Arc<SiteHandle>> {
        let mut v: Vec<_> = self.sites.read().values().cloned().collect();
        v.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        v
    }
}

/// Decrypts a site's credentials.
pub fn open_credentials(
    secrets: &SecretBox,
    record: &SiteRecord,
) -> Result<SiteAuth, RegistryError> {
    let err = |reason: String| RegistryError {
        site: record.name.clone(),
        reason,
    };
    let plain = secrets
        .open(&record.credentials)
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|e| err(e.to_string()))
}
