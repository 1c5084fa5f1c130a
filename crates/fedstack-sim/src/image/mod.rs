//! Glance v2 of a simulated site: images with their data (real bytes, md5 and sha512
//! checksums), extra properties, tags, members, and the calls Nova and Cinder make on it.

mod api;
mod common;
mod file;
mod import;
mod list;
mod members;
mod model;
mod patch;
#[cfg(test)]
mod tests;
mod view;

pub use model::{Digests, Image, ImageStatus, Member, MemberStatus, Visibility};

use crate::config::SiteSpec;
use crate::site::{Bootstrap, Site};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use std::sync::Arc;

/// An image a server (or a volume) can be built from, as [`ImageData::boot_image`] gives it.
#[derive(Debug, Clone)]
pub struct BootImage {
    pub id: String,
    pub name: String,
    pub data: Bytes,
    pub size: u64,
    pub min_disk: u64,
    pub min_ram: u64,
    pub disk_format: String,
    pub container_format: String,
    /// The image's extra properties (`hw_*`, `os_*`, ...).
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// An image another service creates (Nova's createImage, Cinder's upload-to-image).
/// Build it with `NewImage { owner, name, ..Default::default() }`.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    pub owner: String,
    pub name: String,
    pub data: Bytes,
    /// `None` leaves the format unset (`null`), as Nova's queued snapshots show.
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub visibility: Visibility,
    pub min_disk: u64,
    pub min_ram: u64,
    /// Extra properties; Glance stores them as strings, so other values are stringified.
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// The image state of a site, by image ID in creation order.
#[derive(Debug, Default)]
pub struct ImageData {
    pub images: IndexMap<String, Image>,
}

impl ImageData {
    /// A public, active `cirros` image owned by the admin project.
    pub fn bootstrap(b: &Bootstrap, _spec: &SiteSpec) -> Self {
        let mut d = ImageData::default();
        let now = Utc::now();
        let mut cirros = Image::new(new_id(), b.admin_project_id.clone(), now);
        cirros.name = Some("cirros".into());
        cirros.disk_format = Some("qcow2".into());
        cirros.container_format = Some("bare".into());
        cirros.visibility = Visibility::Public;
        cirros.set_data(model::cirros_bytes(), now, now);
        d.insert(cirros);
        d
    }

    /// Adds an image.
    pub fn insert(&mut self, image: Image) {
        self.images.insert(image.id.clone(), image);
    }

    /// The image `id` if `project_id` may see it (owner, public, community or member); admins
    /// see every image.
    pub fn visible(&self, project_id: &str, is_admin: bool, id: &str) -> Option<&Image> {
        self.images
            .get(id)
            .filter(|i| is_admin || i.visible_to(project_id))
    }

    /// An active image `project_id` may boot from, with its bytes.
    pub fn boot_image(&self, project_id: &str, image_id: &str) -> Option<BootImage> {
        let now = Utc::now();
        let i = self.visible(project_id, false, image_id)?;
        (i.status_at(now) == ImageStatus::Active).then(|| BootImage {
            id: i.id.clone(),
            name: i.name.clone().unwrap_or_default(),
            data: i.data.clone().unwrap_or_default(),
            size: i.digests.as_ref().map_or(0, |d| d.size),
            min_disk: i.min_disk,
            min_ram: i.min_ram,
            disk_format: i.disk_format.clone().unwrap_or_default(),
            container_format: i.container_format.clone().unwrap_or_default(),
            properties: i.properties.clone(),
        })
    }

    /// Creates an image holding `new.data`: `saving` until `ready_at`, then `active`, with its
    /// size and checksums already computed. Returns its ID.
    pub fn create_image_with_data(&mut self, new: NewImage, ready_at: DateTime<Utc>) -> String {
        let now = Utc::now();
        let data = new.data.clone();
        let mut image = Image::from_new(new, now);
        image.set_data(data, now, ready_at);
        let id = image.id.clone();
        self.insert(image);
        id
    }

    /// Creates a `queued` image (no data yet). Returns its ID.
    pub fn create_queued(&mut self, new: NewImage) -> String {
        let image = Image::from_new(new, Utc::now());
        let id = image.id.clone();
        self.insert(image);
        id
    }

    /// Gives a `queued` image its data: `saving` until `ready_at`, then `active`. False when
    /// the image is gone or not queued.
    pub fn upload_queued(&mut self, image_id: &str, data: Bytes, ready_at: DateTime<Utc>) -> bool {
        match self.images.get_mut(image_id) {
            Some(i) if i.status == ImageStatus::Queued => {
                i.set_data(data, Utc::now(), ready_at);
                true
            }
            _ => false,
        }
    }

    /// Deletes an image whatever its state (for rollbacks). True if it existed.
    pub fn delete_image(&mut self, image_id: &str) -> bool {
        self.images.shift_remove(image_id).is_some()
    }
}

/// A Glance image ID (a UUID with dashes).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The routes, nested under `/image`.
pub fn router() -> Router<Arc<Site>> {
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
            put(file::upload)
                .get(file::download)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v2/images/{id}/stage",
            put(file::stage).layer(DefaultBodyLimit::disable()),
        )
        .route("/v2/images/{id}/import", post(import::import))
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(api::add_tag_route).delete(api::delete_tag),
        )
        .route("/v2/images/{id}/actions/deactivate", post(api::deactivate))
        .route("/v2/images/{id}/actions/reactivate", post(api::reactivate))
        .route(
            "/v2/images/{id}/members",
            get(members::list).post(members::create),
        )
        .route(
            "/v2/images/{id}/members/{member}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/v2/schemas/image", get(api::schema_image))
        .route("/v2/schemas/images", get(api::schema_images))
        .route("/v2/info/import", get(api::info_import))
        .route("/v2/info/stores", get(api::info_stores))
        .method_not_allowed_fallback(common::method_not_allowed)
        .fallback(api::not_found)
}
