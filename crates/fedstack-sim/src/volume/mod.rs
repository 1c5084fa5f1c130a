//! Cinder v3 of a simulated site: volumes holding real bytes, snapshots, attachments, volume
//! types, availability zones, limits and quotas.
//!
//! Transitions (creating → available, extending, deleting...) are scheduled in a queue of
//! due times and applied by [`VolumeData::settle`] on the next access, so idle volumes cost
//! nothing and no timers run.

mod api;
mod model;
mod ops;
mod quota;
mod schema;
mod table;
#[cfg(test)]
mod tests;
mod views;

pub use api::router;
pub use model::{
    AttachStatus, Attachment, Outcome, Pending, Snapshot, SnapshotStatus, Volume, VolumeStatus,
    VolumeType,
};

use crate::config::SiteSpec;
use crate::image::BootImage;
use crate::site::Bootstrap;
use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use fedstack_api_types::{ApiError, Service};
use indexmap::IndexMap;
use quota::{Counts, Quotas};
use std::collections::{BTreeMap, BTreeSet};
use table::Table;

/// The only availability zone of a simulated site's Cinder.
pub const AVAILABILITY_ZONE: &str = "nova";
/// Name of the volume type Cinder always has.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";
/// A gibibyte, the unit of volume sizes.
pub const GIB: u64 = 1 << 30;

/// A scheduled transition: which record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Volume(String),
    Snapshot(String),
}

/// The block storage state of a site.
#[derive(Debug, Default)]
pub struct VolumeData {
    volumes: Table<Volume>,
    snapshots: Table<Snapshot>,
    attachments: Table<Attachment>,
    /// Volume types by ID, in creation order.
    types: IndexMap<String, VolumeType>,
    default_type_id: String,
    quotas: Quotas,
    due: BTreeSet<(DateTime<Utc>, Due)>,
    seq: u64,
    /// The cinder-volume service's UUID (`service_uuid` of scheduled volumes).
    service_uuid: String,
    /// The backend host volumes land on (`os-vol-host-attr:host`).
    backend_host: String,
}

/// A volume to create: everything but what Cinder decides itself.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: u64,
    pub type_id: String,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub bootable: bool,
    pub image_metadata: Option<BTreeMap<String, String>>,
    pub data: Option<Bytes>,
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Nova's 404 for a volume it cannot see.
fn nova_volume_not_found(volume_id: &str) -> ApiError {
    ApiError::not_found(
        Service::Compute,
        format!("Volume {volume_id} could not be found."),
    )
}

impl VolumeData {
    /// Cinder's `__DEFAULT__` volume type (the only one of a fresh Cinder; admins add more).
    pub fn bootstrap(_b: &Bootstrap, spec: &SiteSpec) -> Self {
        let mut d = VolumeData {
            service_uuid: new_uuid(),
            backend_host: format!("{}@lvmdriver-1#lvmdriver-1", spec.name.to_lowercase()),
            ..Default::default()
        };
        d.default_type_id = d.add_type(DEFAULT_TYPE, Some("Default Volume Type"), Utc::now());
        d
    }

    fn add_type(&mut self, name: &str, description: Option<&str>, now: DateTime<Utc>) -> String {
        let id = new_uuid();
        self.types.insert(
            id.clone(),
            VolumeType {
                id: id.clone(),
                name: name.into(),
                description: description.map(str::to_string),
                is_public: true,
                extra_specs: BTreeMap::new(),
                created_at: now,
            },
        );
        id
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Applies every transition due by `now`.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        while let Some((at, due)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.pop_first();
            match due {
                Due::Volume(id) => self.settle_volume(&id, at),
                Due::Snapshot(id) => self.settle_snapshot(&id, at),
            }
        }
    }

    fn settle_volume(&mut self, id: &str, at: DateTime<Utc>) {
        let Some(v) = self.volumes.get_mut(id) else {
            return;
        };
        let Some(p) = v.pending.filter(|p| p.at == at) else {
            return;
        };
        v.pending = None;
        match p.then {
            Outcome::Status(s) => {
                v.scheduled = true;
                v.set_status(s, at);
            }
            Outcome::Extended(size) => {
                v.size = size;
                let s = if v.attachments.is_empty() {
                    VolumeStatus::Available
                } else {
                    VolumeStatus::InUse
                };
                v.set_status(s, at);
            }
            Outcome::Gone => self.remove_volume(id),
        }
    }

    fn settle_snapshot(&mut self, id: &str, at: DateTime<Utc>) {
        let Some(s) = self.snapshots.get_mut(id) else {
            return;
        };
        let Some(p) = s.pending.filter(|p| p.at == at) else {
            return;
        };
        s.pending = None;
        match p.then {
            Some(status) => {
                s.status = status;
                s.updated_at = Some(at);
            }
            None => self.remove_snapshot(id),
        }
    }

    /// Schedules a volume's next transition (replacing any pending one).
    fn schedule_volume(&mut self, id: &str, at: DateTime<Utc>, then: Outcome) {
        if let Some(v) = self.volumes.get_mut(id) {
            v.pending = Some(Pending { at, then });
            self.due.insert((at, Due::Volume(id.to_string())));
        }
    }

    /// Schedules a snapshot's next transition (`None`: removal).
    fn schedule_snapshot(&mut self, id: &str, at: DateTime<Utc>, then: Option<SnapshotStatus>) {
        if let Some(s) = self.snapshots.get_mut(id) {
            s.pending = Some(Pending { at, then });
            self.due.insert((at, Due::Snapshot(id.to_string())));
        }
    }

    /// Stores a new volume in `status` and counts it against its project's quota.
    fn insert_volume(
        &mut self,
        new: NewVolume,
        status: VolumeStatus,
        now: DateTime<Utc>,
    ) -> String {
        let id = new_uuid();
        let seq = self.next_seq();
        self.quotas.add(
            &new.project_id,
            &new.type_id,
            Counts {
                volumes: 1,
                gigabytes: new.size as i64,
                snapshots: 0,
            },
        );
        let v = Volume {
            seq,
            id: id.clone(),
            project_id: new.project_id,
            user_id: new.user_id,
            name: new.name,
            description: new.description,
            size: new.size,
            status,
            pending: None,
            type_id: new.type_id,
            availability_zone: AVAILABILITY_ZONE.into(),
            snapshot_id: new.snapshot_id,
            source_volid: new.source_volid,
            metadata: new.metadata,
            bootable: new.bootable,
            image_metadata: new.image_metadata,
            attachments: vec![],
            snapshots: vec![],
            data: new.data,
            scheduled: status != VolumeStatus::Creating,
            created_at: now,
            updated_at: (status != VolumeStatus::Creating).then_some(now),
        };
        self.volumes.insert(id.clone(), v);
        id
    }

    /// Drops a volume, its snapshots (cascade delete), its attachments, and its quota usage.
    fn remove_volume(&mut self, id: &str) {
        let snapshots = self
            .volumes
            .get(id)
            .map(|v| v.snapshots.clone())
            .unwrap_or_default();
        for s in snapshots {
            self.remove_snapshot(&s);
        }
        let Some(v) = self.volumes.remove(id) else {
            return;
        };
        for a in &v.attachments {
            self.attachments.remove(a);
        }
        self.quotas.add(
            &v.project_id,
            &v.type_id,
            Counts {
                volumes: -1,
                gigabytes: -(v.size as i64),
                snapshots: 0,
            },
        );
    }

    /// Drops a snapshot, unlinks it from its volume, and releases its quota.
    fn remove_snapshot(&mut self, id: &str) {
        let Some(s) = self.snapshots.remove(id) else {
            return;
        };
        let type_id = match self.volumes.get_mut(&s.volume_id) {
            Some(v) => {
                v.snapshots.retain(|x| x != id);
                v.type_id.clone()
            }
            None => self.default_type_id.clone(),
        };
        self.quotas.add(
            &s.project_id,
            &type_id,
            Counts {
                volumes: 0,
                gigabytes: -(s.size as i64),
                snapshots: -1,
            },
        );
    }

    /// Records a completed attachment of a volume to a server; the volume is `in-use`.
    fn add_attachment(
        &mut self,
        volume_id: &str,
        server_id: Option<&str>,
        host: Option<&str>,
        device: Option<&str>,
        now: DateTime<Utc>,
    ) -> String {
        let id = self.insert_attachment(volume_id, server_id, AttachStatus::Attached, now);
        if let Some(a) = self.attachments.get_mut(&id) {
            a.host = host.map(str::to_string);
            a.device = device.map(str::to_string);
            a.mode = Some("rw");
            a.connected = true;
            a.attached_at = Some(now);
        }
        if let Some(v) = self.volumes.get_mut(volume_id) {
            v.set_status(VolumeStatus::InUse, now);
        }
        id
    }

    /// Stores an attachment record of a volume (which must exist) and links it.
    fn insert_attachment(
        &mut self,
        volume_id: &str,
        server_id: Option<&str>,
        status: AttachStatus,
        now: DateTime<Utc>,
    ) -> String {
        let id = new_uuid();
        let seq = self.next_seq();
        let Some(v) = self.volumes.get_mut(volume_id) else {
            return id;
        };
        v.attachments.push(id.clone());
        v.updated_at = Some(now);
        let a = Attachment {
            seq,
            id: id.clone(),
            project_id: v.project_id.clone(),
            volume_id: volume_id.into(),
            server_id: server_id.map(str::to_string),
            host: None,
            device: None,
            status,
            mode: None,
            connected: false,
            by_nova: false,
            attached_at: None,
        };
        self.attachments.insert(id.clone(), a);
        id
    }

    /// Removes an attachment; the volume becomes `available` when nothing is attached
    /// (`in-use` while other attachments remain).
    fn remove_attachment(&mut self, attachment_id: &str, now: DateTime<Utc>) {
        let Some(a) = self.attachments.remove(attachment_id) else {
            return;
        };
        if let Some(v) = self.volumes.get_mut(&a.volume_id) {
            v.attachments.retain(|x| x != attachment_id);
            let status = if v.attachments.is_empty() {
                VolumeStatus::Available
            } else {
                VolumeStatus::InUse
            };
            v.set_status(status, now);
        }
    }

    /// The attachment of `volume_id` to `server_id`, if any.
    fn attachment_of(&self, volume_id: &str, server_id: &str) -> Option<String> {
        let v = self.volumes.get(volume_id)?;
        v.attachments
            .iter()
            .find(|a| {
                self.attachments
                    .get(a)
                    .is_some_and(|a| a.server_id.as_deref() == Some(server_id))
            })
            .cloned()
    }

    // ----- Contract for Nova -----

    /// Attaches a project's `available` volume to a server (Nova's volume attach and
    /// boot-from-volume). Returns the attachment ID. Errors are in Nova's envelope.
    pub fn attach(
        &mut self,
        project_id: &str,
        volume_id: &str,
        server_id: &str,
        host: &str,
        device: &str,
    ) -> Result<String, ApiError> {
        let now = Utc::now();
        self.settle(now);
        let v = self
            .volumes
            .get(volume_id)
            .filter(|v| v.project_id == project_id)
            .ok_or_else(|| nova_volume_not_found(volume_id))?;
        if v.status != VolumeStatus::Available {
            return Err(ApiError::bad_request(
                Service::Compute,
                format!(
                    "Invalid volume: volume '{volume_id}' status must be 'available'. Currently in '{}'",
                    v.status.as_str()
                ),
            ));
        }
        let id = self.add_attachment(volume_id, Some(server_id), Some(host), Some(device), now);
        if let Some(a) = self.attachments.get_mut(&id) {
            a.by_nova = true;
        }
        Ok(id)
    }

    /// Detaches a volume from a server; the volume becomes `available` once nothing is
    /// attached. Detaching a volume that is not attached to the server is a no-op.
    pub fn detach(&mut self, volume_id: &str, server_id: &str) -> Result<(), ApiError> {
        let now = Utc::now();
        self.settle(now);
        if self.volumes.get(volume_id).is_none() {
            return Err(nova_volume_not_found(volume_id));
        }
        if let Some(a) = self.attachment_of(volume_id, server_id) {
            self.remove_attachment(&a, now);
        }
        Ok(())
    }

    /// Creates an `available` volume for Nova's `block_device_mapping_v2` with
    /// `destination_type: volume` (from `image` when given: its bytes, bootable, and
    /// `volume_image_metadata`). Errors (quota, image too large) are in Nova's envelope.
    pub fn create_for_boot(
        &mut self,
        project_id: &str,
        size_gb: u64,
        image: Option<&BootImage>,
        name: &str,
    ) -> Result<String, ApiError> {
        let now = Utc::now();
        self.settle(now);
        if let Some(i) = image {
            check_image_fits(i, size_gb).map_err(|m| ApiError::bad_request(Service::Compute, m))?;
        }
        let type_id = self.default_type_id.clone();
        self.check_quota(project_id, &type_id, size_gb, 1, 0)
            .map_err(|e| e.for_service(Service::Compute))?;
        let new = NewVolume {
            project_id: project_id.into(),
            name: Some(name.to_string()),
            size: size_gb,
            type_id,
            bootable: image.is_some(),
            image_metadata: image.map(image_metadata),
            data: image.map(|i| i.data.clone()),
            ..Default::default()
        };
        Ok(self.insert_volume(new, VolumeStatus::Available, now))
    }

    /// A volume's bytes: what was written so far (an image's data, for an image-backed
    /// volume); the rest of the volume reads as zeros. `None` for an unknown volume.
    pub fn volume_data(&self, volume_id: &str) -> Option<Bytes> {
        self.volumes
            .get(volume_id)
            .map(|v| v.data.clone().unwrap_or_default())
    }

    /// Replaces a volume's bytes (the guest wrote them). False for an unknown volume.
    pub fn set_volume_data(&mut self, volume_id: &str, data: Bytes) -> bool {
        match self.volumes.get_mut(volume_id) {
            Some(v) => {
                v.data = Some(data);
                true
            }
            None => false,
        }
    }

    /// Deletes a volume whose server went away (`delete_on_termination`): detached, then
    /// removed, unless it has snapshots (Cinder refuses; the volume stays `available`).
    pub fn delete_for_server(&mut self, volume_id: &str) {
        let now = Utc::now();
        self.settle(now);
        let Some(v) = self.volumes.get(volume_id) else {
            return;
        };
        let has_snapshots = !v.snapshots.is_empty();
        for a in v.attachments.clone() {
            self.remove_attachment(&a, now);
        }
        if !has_snapshots {
            self.remove_volume(volume_id);
        }
    }

    /// Checks a project's quota for `volumes` new volumes / `snapshots` new snapshots
    /// totalling `gigabytes` of a type.
    fn check_quota(
        &self,
        project_id: &str,
        type_id: &str,
        gigabytes: u64,
        volumes: i64,
        snapshots: i64,
    ) -> Result<(), QuotaError> {
        let type_name = self.types.get(type_id).map_or("", |t| t.name.as_str());
        let delta = Counts {
            volumes,
            gigabytes: gigabytes as i64,
            snapshots,
        };
        let size = (volumes > 0).then_some(gigabytes as i64);
        self.quotas
            .check(project_id, type_id, type_name, delta, size)
            .map_err(QuotaError)
    }
}

/// A refused quota request, rendered as Cinder's (or Nova's) 413.
#[derive(Debug, Clone)]
pub struct QuotaError(quota::OverQuota);

impl QuotaError {
    /// The 413 `overLimit` in a service's envelope.
    pub fn for_service(&self, service: Service) -> ApiError {
        ApiError::new(service, StatusCode::PAYLOAD_TOO_LARGE, self.0.api_message())
    }
}

/// Cinder's refusal when an image does not fit the requested volume size.
fn check_image_fits(image: &BootImage, size_gb: u64) -> Result<(), String> {
    let image_gb = image.size.div_ceil(GIB);
    if image_gb > size_gb {
        return Err(format!(
            "Invalid input received: Size of specified image {image_gb}GB is larger than volume size {size_gb}GB."
        ));
    }
    if size_gb < image.min_disk {
        return Err(format!(
            "Invalid input received: Volume size {size_gb}GB cannot be smaller than the image minDisk size {}GB.",
            image.min_disk
        ));
    }
    Ok(())
}

/// The `volume_image_metadata` Cinder copies from an image (all values as strings).
fn image_metadata(image: &BootImage) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = image
        .properties
        .iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect();
    let checksum = hex::encode(<md5::Md5 as md5::Digest>::digest(&image.data));
    for (k, v) in [
        ("image_id", image.id.clone()),
        ("image_name", image.name.clone()),
        ("checksum", checksum),
        ("container_format", image.container_format.clone()),
        ("disk_format", image.disk_format.clone()),
        ("min_disk", image.min_disk.to_string()),
        ("min_ram", image.min_ram.to_string()),
        ("size", image.size.to_string()),
    ] {
        m.insert(k.into(), v);
    }
    m
}
