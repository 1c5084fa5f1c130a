//! Glance v2 of a simulated site. (Being written: see the module owner.)

use crate::config::SiteSpec;
use crate::site::{Bootstrap, Site};
use axum::Router;
use std::sync::Arc;

/// The state of this service on a site.
#[derive(Debug, Default)]
pub struct ImageData {}

impl ImageData {
    pub fn bootstrap(_b: &Bootstrap, _spec: &SiteSpec) -> Self {
        ImageData {}
    }
}

/// The routes, nested under `/image`.
pub fn router() -> Router<Arc<Site>> {
    Router::new()
}
