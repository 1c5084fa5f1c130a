//! Nova v2.1 of a simulated site. (Being written: see the module owner.)

use crate::config::SiteSpec;
use crate::site::{Bootstrap, Site};
use axum::Router;
use bytes::Bytes;
use std::sync::Arc;

/// The compute state of a site.
#[derive(Debug, Default)]
pub struct ComputeData {}

impl ComputeData {
    pub fn bootstrap(_b: &Bootstrap, _spec: &SiteSpec) -> Self {
        ComputeData {}
    }

    /// The bytes of a server's disk, if the server exists.
    pub fn disk(&self, _server_id: &str) -> Option<Bytes> {
        None
    }

    /// Writes `data` at `offset` of a server's disk (growing it as needed).
    pub fn write_disk(
        &mut self,
        _server_id: &str,
        _offset: u64,
        _data: &[u8],
    ) -> Result<(), String> {
        Err("not found".into())
    }

    /// Replaces a server's disk with `data`.
    pub fn replace_disk(&mut self, _server_id: &str, _data: Bytes) -> Result<(), String> {
        Err("not found".into())
    }

    /// Marks a compute host failed (its nova-compute service reports down) or recovered.
    /// Returns false when there is no such host.
    pub fn set_host_failed(&mut self, _host: &str, _failed: bool) -> bool {
        false
    }
}

/// The Nova routes, nested under `/compute`.
pub fn router() -> Router<Arc<Site>> {
    Router::new()
}
