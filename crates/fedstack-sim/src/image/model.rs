//! The image record, its lifecycle and its checksums.

use super::{new_id, NewImage};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fedstack_api_types::glance::format;
pub use fedstack_api_types::glance::{
    Attrs, Digests, Hasher, ImageRecord, ImageStatus, MemberStatus, Visibility,
};
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// A project an image is shared with.
#[derive(Debug, Clone)]
pub struct Member {
    pub status: MemberStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What Glance records about data it stores besides the bytes.
#[derive(Debug, Clone)]
pub struct Stored {
    pub digests: Digests,
    pub virtual_size: Option<u64>,
}

/// One Glance image.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    pub owner: String,
    /// The stored status; a `saving` image with `ready_at` in the past reads as `active`.
    pub status: ImageStatus,
    pub ready_at: Option<DateTime<Utc>>,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: u64,
    pub min_ram: u64,
    pub virtual_size: Option<u64>,
    /// Set once data is stored.
    pub digests: Option<Digests>,
    pub data: Option<Bytes>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<String>,
    /// Extra properties, in the order they were set (values are JSON strings).
    pub properties: Map<String, Value>,
    /// Projects the image is shared with, by project ID, in the order they were added.
    pub members: IndexMap<String, Member>,
}

impl Image {
    /// A queued private image with no attributes set.
    pub fn new(id: String, owner: String, now: DateTime<Utc>) -> Self {
        Image {
            id,
            name: None,
            owner,
            status: ImageStatus::Queued,
            ready_at: None,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            virtual_size: None,
            digests: None,
            data: None,
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            properties: Map::new(),
            members: IndexMap::new(),
        }
    }

    /// A queued image from another service's request (no data stored yet).
    pub fn from_new(new: NewImage, now: DateTime<Utc>) -> Self {
        let mut i = Image::new(new_id(), new.owner, now);
        i.name = Some(new.name);
        i.disk_format = new.disk_format;
        i.container_format = new.container_format;
        i.visibility = new.visibility;
        i.min_disk = new.min_disk;
        i.min_ram = new.min_ram;
        i.properties = new
            .properties
            .into_iter()
            .map(|(k, v)| (k, Value::String(property_string(v))))
            .collect();
        i
    }

    /// The status as a reader sees it at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> ImageStatus {
        match (self.status, self.ready_at) {
            (ImageStatus::Saving | ImageStatus::Importing, Some(t)) if t <= now => {
                ImageStatus::Active
            }
            (s, _) => s,
        }
    }

    /// Applies a transition that has come due (saving or importing → active).
    pub fn settle(&mut self, now: DateTime<Utc>) {
        if let (ImageStatus::Saving | ImageStatus::Importing, Some(t)) =
            (self.status, self.ready_at)
        {
            if t <= now {
                self.status = ImageStatus::Active;
                self.updated_at = self.updated_at.max(t);
                self.ready_at = None;
            }
        }
    }

    /// Stores `data` with its digests and virtual size (already computed): `saving` until
    /// `ready_at`, then `active`.
    pub fn store(
        &mut self,
        data: Bytes,
        stored: Stored,
        now: DateTime<Utc>,
        ready_at: DateTime<Utc>,
    ) {
        self.virtual_size = stored.virtual_size;
        self.digests = Some(stored.digests);
        self.data = Some(data);
        self.updated_at = now;
        self.status = ImageStatus::Saving;
        self.ready_at = Some(ready_at);
        self.settle(now);
    }

    /// Stores `data`, computing its digests and virtual size.
    pub fn set_data(&mut self, data: Bytes, now: DateTime<Utc>, ready_at: DateTime<Utc>) {
        let stored = Stored {
            digests: Digests::of(&data),
            virtual_size: format::virtual_size(
                self.disk_format.as_deref(),
                self.container_format.as_deref(),
                &data,
            ),
        };
        self.store(data, stored, now, ready_at);
    }

    /// The stored data's digests once the image holds it (not while it is being saved,
    /// staged or imported).
    pub fn stored(&self) -> Option<&Digests> {
        match self.status {
            ImageStatus::Queued
            | ImageStatus::Saving
            | ImageStatus::Uploading
            | ImageStatus::Importing => None,
            _ => self.digests.as_ref(),
        }
    }

    /// The size Glance shows: the stored data's, or the staged data's while `uploading`.
    pub fn shown_size(&self) -> Option<u64> {
        match self.status {
            ImageStatus::Uploading => self.digests.as_ref().map(|d| d.size),
            _ => self.stored().map(|d| d.size),
        }
    }

    /// The attributes a client sets.
    pub fn attrs(&self) -> Attrs {
        Attrs {
            name: self.name.clone(),
            owner: self.owner.clone(),
            visibility: self.visibility,
            protected: self.protected,
            os_hidden: self.os_hidden,
            disk_format: self.disk_format.clone(),
            container_format: self.container_format.clone(),
            min_disk: self.min_disk,
            min_ram: self.min_ram,
            tags: self.tags.clone(),
            properties: self.properties.clone(),
        }
    }

    /// Sets the attributes a client sets.
    pub fn set_attrs(&mut self, a: Attrs) {
        self.name = a.name;
        self.owner = a.owner;
        self.visibility = a.visibility;
        self.protected = a.protected;
        self.os_hidden = a.os_hidden;
        self.disk_format = a.disk_format;
        self.container_format = a.container_format;
        self.min_disk = a.min_disk;
        self.min_ram = a.min_ram;
        self.tags = a.tags;
        self.properties = a.properties;
    }

    /// The image as Glance shows it.
    pub fn record(&self) -> ImageRecord {
        ImageRecord {
            id: self.id.clone(),
            status: self.status,
            attrs: self.attrs(),
            size: self.shown_size(),
            stored: self.stored().cloned(),
            virtual_size: self.virtual_size,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// True when `project_id` may see this image (owner, public, community or member).
    pub fn visible_to(&self, project_id: &str) -> bool {
        self.owner == project_id
            || matches!(self.visibility, Visibility::Public | Visibility::Community)
            || (self.visibility == Visibility::Shared && self.members.contains_key(project_id))
    }

    /// The status of `project_id` as a member of this image, if it is one.
    pub fn membership(&self, project_id: &str) -> Option<MemberStatus> {
        self.members.get(project_id).map(|m| m.status)
    }
}

/// Glance keeps extra properties as strings.
fn property_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

const QCOW2_MAGIC: &[u8] = b"QFI\xfb";

/// Size of the bootstrap cirros image's data.
const CIRROS_SIZE: usize = 16 * 1024;
/// Virtual size written in its qcow2 header (112 MiB, as the real cirros).
const CIRROS_VIRTUAL_SIZE: u64 = 117_440_512;

/// Deterministic bytes for the bootstrap cirros image: a qcow2 v3 header followed by a
/// repeating pattern.
pub(super) fn cirros_bytes() -> Bytes {
    let mut b = Vec::with_capacity(CIRROS_SIZE);
    b.extend_from_slice(QCOW2_MAGIC);
    b.extend_from_slice(&3u32.to_be_bytes()); // version
    b.extend_from_slice(&0u64.to_be_bytes()); // backing file offset
    b.extend_from_slice(&0u32.to_be_bytes()); // backing file size
    b.extend_from_slice(&16u32.to_be_bytes()); // cluster bits
    b.extend_from_slice(&CIRROS_VIRTUAL_SIZE.to_be_bytes());
    let pattern = b"fedstack-sim cirros 0.6.3 ";
    while b.len() < CIRROS_SIZE {
        b.push(pattern[b.len() % pattern.len()]);
    }
    Bytes::from(b)
}
