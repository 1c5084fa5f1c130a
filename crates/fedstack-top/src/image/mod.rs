//! Glance v2 at the top: the image index (the `images` table), image data held by the top,
//! and replication of images to sites by each image's policy (`fedstack_replication`):
//!
//! - `eager`: copied to every enabled site when its upload completes (durable copy jobs in
//!   `image_copies`, retried by a worker loop);
//! - `on-demand`: copied to a site the first time a server boots from it there;
//! - `register`: images found on sites (public ones, and snapshots made through the top)
//!   shown at the top; the top holds none of their data, and a boot on a site without them
//!   copies them there from a site that has them.
//!
//! A copy keeps the top image's ID on the site and is verified by its sha512.

mod access;
mod api;
mod boot;
mod copy;
mod data;
mod list;
mod mirror;
mod patch;
mod record;
mod register;
pub(crate) mod replicate;
mod source;
mod storage;
pub(crate) mod stream;
#[cfg(test)]
mod tests;
mod worker;

pub use boot::{boot_sites, ensure_on_site, image_for_boot};
pub use copy::{await_data, FAILED as COPY_FAILED};
pub use register::register_site_image;

use crate::Top;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};
use axum::Router;
use std::sync::Arc;

/// The Glance routes, nested under `/image`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
        .route("/", get(api::versions_root))
        .route("/versions", get(api::versions))
        .route("/v2/images", get(list::list).post(api::create))
        .route(
            "/v2/images/{id}",
            get(api::show).patch(patch::update).delete(api::delete),
        )
        .route(
            "/v2/images/{id}/file",
            put(data::upload)
                .get(data::download)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(api::add_tag).delete(api::delete_tag),
        )
        .route("/v2/schemas/image", get(api::schema_image))
        .route("/v2/schemas/images", get(api::schema_images))
        .route("/v2/info/import", get(api::info_import))
        .route("/v2/info/stores", get(api::info_stores))
        .method_not_allowed_fallback(api::method_not_allowed)
        .fallback(api::not_found)
}

/// Starts the image loops of this node: the copy worker (submits pending, failed and
/// interrupted copies as jobs) and the registration of site images.
pub fn spawn_loops(top: &Arc<Top>) {
    tokio::spawn(worker::run(top.clone()));
    tokio::spawn(register::run(top.clone()));
}
