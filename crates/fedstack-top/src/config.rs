//! Configuration of a top node.

use crate::placement::Weigher;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// How a top node runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TopConfig {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// The URL clients reach the top at (catalog, links); defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Data directory: SQLite database, image data, the credential sealing key.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Keystone region name of the top.
    pub region: String,
    /// Token lifetime in seconds.
    pub token_lifetime_secs: i64,
    /// How often site health is checked, in milliseconds.
    pub health_interval_ms: u64,
    /// How often the index polls sites for changes, in milliseconds.
    pub sync_interval_ms: u64,
    /// Time limit of one site call, in milliseconds.
    pub site_timeout_ms: u64,
    /// How placement ranks sites.
    pub weigher: Weigher,
}

impl Default for TopConfig {
    fn default() -> Self {
        TopConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            data_dir: PathBuf::from("fedstack-data"),
            database_url: None,
            region: "RegionOne".into(),
            token_lifetime_secs: 3600,
            health_interval_ms: 2000,
            sync_interval_ms: 1000,
            site_timeout_ms: 15000,
            weigher: Weigher::default(),
        }
    }
}
