//! Glance v2 at the top, image data and replication to sites. (Being written: see the module
//! owner.)

use crate::Top;
use axum::Router;
use std::sync::Arc;

/// The Glance routes, nested under `/image`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
}
