//! The fedstack top: one OpenStack endpoint over many sites.
//!
//! Request in, decision, site call, translation out: handlers authenticate the caller, decide
//! where a request goes (routing for existing resources, placement for new ones), call the
//! site through `fedstack-site-client` in the tenant's own project there, and translate IDs,
//! links and availability zones back to the top's view. Lists come from the index.

pub mod auth;
pub mod bootstrap;
pub mod compute;
pub mod config;
pub mod http;
pub mod identity;
pub mod image;
pub mod index;
pub mod migration;
pub mod network;
pub mod placement;
pub mod quota;
pub mod register;
pub mod scope;
pub mod secrets;
pub mod sites;
pub mod tenancy;
pub mod testing;
pub mod volume;

use auth::TokenService;
use config::TopConfig;
use fedstack_api_types::http::service_prefix;
use fedstack_api_types::Service;
use fedstack_store::Store;
use parking_lot::Mutex;
use secrets::SecretBox;
use sites::SiteRegistry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A top node's shared state.
pub struct Top {
    pub config: TopConfig,
    /// Base URL clients use (no trailing slash).
    pub public_url: String,
    pub store: Store,
    pub tokens: TokenService,
    pub secrets: SecretBox,
    pub sites: SiteRegistry,
    /// Durable jobs (migrations) of this node.
    pub jobs: Arc<fedstack_jobs::Runner>,
    /// Per-key async locks serialising work on one resource within this node.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Top {
    /// Opens the store and keys in the configured data directory.
    pub async fn open(config: TopConfig, public_url: String) -> anyhow::Result<Arc<Top>> {
        let store = match &config.database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_in_dir(&config.data_dir).await?,
        };
        let tokens = TokenService::load(store.clone(), config.token_lifetime_secs).await?;
        let secrets = SecretBox::load_or_create(&config.data_dir)?;
        let sites = SiteRegistry::new(Duration::from_millis(config.site_timeout_ms));
        sites.load(&store, &secrets).await?;
        let job_store = fedstack_jobs::JobStore::new(store.pool().clone());
        Ok(Arc::new_cyclic(|me| Top {
            jobs: Arc::new(migration::runner(job_store, me.clone())),
            config,
            public_url: public_url.trim_end_matches('/').to_string(),
            store,
            tokens,
            secrets,
            sites,
            locks: Mutex::new(HashMap::new()),
        }))
    }

    /// The lock serialising work on `key` in this node.
    pub fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock();
        if locks.len() > 10_000 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    }

    /// Starts the background loops of this node: site health, the index sync, image
    /// replication and registration, the volume index, the job runner.
    pub fn spawn_loops(self: &Arc<Self>) {
        tokio::spawn(sites::health::run(self.clone()));
        tokio::spawn(index::run(self.clone()));
        image::spawn_loops(self);
        volume::spawn_loops(self);
        tokio::spawn(self.jobs.clone().run());
    }

    /// The root of one service at the top, e.g. `http://127.0.0.1:8080/compute`.
    pub fn service_root(&self, service: Service) -> String {
        format!("{}{}", self.public_url, service_prefix(service))
    }

    /// The top's Keystone v3 URL.
    pub fn auth_url(&self) -> String {
        format!("{}/v3", self.service_root(Service::Identity))
    }
}

/// Serves the top's API on `listener` until `shutdown` completes.
pub async fn serve(
    top: Arc<Top>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(top))
        .with_graceful_shutdown(shutdown)
        .await
}
