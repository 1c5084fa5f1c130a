//! What the Cinder API does to the state, with Cinder's checks and messages (errors in
//! Cinder's envelope). Handlers parse requests; these functions decide.

use super::model::{
    AttachStatus, Attachment, Outcome, Snapshot, SnapshotStatus, Volume, VolumeStatus, VolumeType,
};
use super::quota::Counts;
use super::schema::bad;
use super::AVAILABILITY_ZONE;
use super::{check_image_fits, image_metadata, new_uuid, NewVolume, VolumeData};
use crate::image::BootImage;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use fedstack_api_types::{ApiError, Service};
use std::collections::BTreeMap;

/// The caller of a Cinder request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub project_id: String,
    pub user_id: String,
    pub admin: bool,
}

/// When an operation started and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: DateTime<Utc>,
    pub ready_at: DateTime<Utc>,
}

/// A volume create request, validated for shape.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: Option<u64>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image: Option<BootImage>,
}

/// A snapshot create request, validated for shape.
#[derive(Debug, Clone, Default)]
pub struct SnapshotRequest {
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// `force`, or microversion 3.66: snapshots of `in-use` volumes allowed.
    pub allow_in_use: bool,
}

/// A 404 in Cinder's envelope.
pub fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError::not_found(Service::Volume, msg)
}

/// Cinder's 404 for a volume the caller cannot see.
pub fn volume_not_found(id: &str) -> ApiError {
    not_found(format!("Volume {id} could not be found."))
}

/// Cinder's 404 for a snapshot the caller cannot see.
pub fn snapshot_not_found(id: &str) -> ApiError {
    not_found(format!("Snapshot {id} could not be found."))
}

/// Cinder's 403 when policy refuses an action.
pub fn policy_denied(action: &str) -> ApiError {
    ApiError::forbidden(
        Service::Volume,
        format!("Policy doesn't allow {action} to be performed."),
    )
}

/// `a or b or c`, as Cinder's `build_or_str`.
fn or_str(items: &[&str]) -> String {
    items.join(" or ")
}

/// True when `s` looks like a UUID (as `uuidutils.is_uuid_like`).
fn uuid_like(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// The message Cinder gives when a volume cannot be deleted.
fn undeletable(force: bool) -> ApiError {
    let statuses = [
        "available",
        "error",
        "error_restoring",
        "error_extending",
        "error_managing",
    ];
    let status = if force {
        String::new()
    } else {
        format!("status must be {} and", or_str(&statuses))
    };
    bad(format!(
        "Invalid volume: Volume {status} must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer."
    ))
}

impl VolumeData {
    /// A volume the caller may see (admins see every project's).
    pub fn visible_volume(&self, c: &Caller, id: &str) -> Result<&Volume, ApiError> {
        self.volumes
            .get(id)
            .filter(|v| c.admin || v.project_id == c.project_id)
            .ok_or_else(|| volume_not_found(id))
    }

    fn visible_volume_mut(&mut self, c: &Caller, id: &str) -> Result<&mut Volume, ApiError> {
        self.volumes
            .get_mut(id)
            .filter(|v| c.admin || v.project_id == c.project_id)
            .ok_or_else(|| volume_not_found(id))
    }

    /// A snapshot the caller may see.
    pub fn visible_snapshot(&self, c: &Caller, id: &str) -> Result<&Snapshot, ApiError> {
        self.snapshots
            .get(id)
            .filter(|s| c.admin || s.project_id == c.project_id)
            .ok_or_else(|| snapshot_not_found(id))
    }

    /// A volume type by name or ID, with Cinder's 404s.
    pub fn type_by_name_or_id(&self, key: &str) -> Result<&VolumeType, ApiError> {
        if let Some(t) = self.types.get(key) {
            return Ok(t);
        }
        if uuid_like(key) {
            return Err(not_found(format!("Volume type {key} could not be found.")));
        }
        self.types
            .values()
            .find(|t| t.name == key)
            .ok_or_else(|| not_found(format!("Volume type with name {key} could not be found.")))
    }

    /// Creates a volume (`creating`, then `available` at `clock.ready_at`).
    pub fn create_volume(
        &mut self,
        c: &Caller,
        req: VolumeRequest,
        clock: Clock,
    ) -> Result<String, ApiError> {
        let type_id = match &req.volume_type {
            Some(t) if !t.is_empty() => self.type_by_name_or_id(t)?.id.clone(),
            _ => self.default_type_id.clone(),
        };
        let origin = self.origin(c, &req)?;
        let size = req
            .size
            .or(origin.size)
            .ok_or_else(|| bad("The server could not comply with the request since it is either malformed or otherwise incorrect."))?;
        origin.check_size(size)?;
        if let Some(image) = &req.image {
            check_image_fits(image, size).map_err(bad)?;
        }
        if let Some(az) = req
            .availability_zone
            .as_deref()
            .filter(|az| *az != AVAILABILITY_ZONE)
        {
            return Err(bad(format!("Availability zone '{az}' is invalid.")));
        }
        self.check_quota(&c.project_id, &type_id, size, 1, 0)
            .map_err(|e| e.for_service(Service::Volume))?;
        let (bootable, image_meta, data) = match &req.image {
            Some(i) => (true, Some(image_metadata(i)), Some(i.data.clone())),
            None => (origin.bootable, origin.image_metadata, origin.data),
        };
        let new = NewVolume {
            project_id: c.project_id.clone(),
            user_id: c.user_id.clone(),
            name: req.name,
            description: req.description,
            size,
            type_id,
            snapshot_id: req.snapshot_id,
            source_volid: req.source_volid,
            metadata: req.metadata,
            bootable,
            image_metadata: image_meta,
            data,
        };
        let id = self.insert_volume(new, VolumeStatus::Creating, clock.now);
        self.schedule_volume(
            &id,
            clock.ready_at,
            Outcome::Status(VolumeStatus::Available),
        );
        Ok(id)
    }

    /// What a new volume copies from its snapshot or source volume.
    fn origin(&self, c: &Caller, req: &VolumeRequest) -> Result<Origin, ApiError> {
        if let Some(sid) = &req.snapshot_id {
            let s = self.visible_snapshot(c, sid)?;
            if s.status != SnapshotStatus::Available {
                return Err(bad(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' values",
                ));
            }
            let parent = self.volumes.get(&s.volume_id);
            return Ok(Origin {
                kind: OriginKind::Snapshot,
                size: Some(s.size),
                bootable: parent.is_some_and(|v| v.bootable),
                image_metadata: parent.and_then(|v| v.image_metadata.clone()),
                data: s.data.clone(),
            });
        }
        if let Some(vid) = &req.source_volid {
            let v = self.visible_volume(c, vid)?;
            if !matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse) {
                return Err(bad(
                    "Invalid volume: Originating source volume status must be one of 'available, in-use' values",
                ));
            }
            return Ok(Origin {
                kind: OriginKind::Volume,
                size: Some(v.size),
                bootable: v.bootable,
                image_metadata: v.image_metadata.clone(),
                data: v.data.clone(),
            });
        }
        Ok(Origin::default())
    }

    /// Renames / re-describes a volume.
    pub fn update_volume(
        &mut self,
        c: &Caller,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        if let Some(n) = name {
            v.name = n;
        }
        if let Some(d) = description {
            v.description = d;
        }
        v.updated_at = Some(now);
        Ok(())
    }

    /// Merges (or, with `replace`, sets) a volume's metadata; returns the result.
    pub fn set_volume_metadata(
        &mut self,
        c: &Caller,
        id: &str,
        meta: BTreeMap<String, String>,
        replace: bool,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        check_metadata_status(v, "Updating")?;
        if replace {
            v.metadata = meta;
        } else {
            v.metadata.extend(meta);
        }
        v.updated_at = Some(now);
        Ok(v.metadata.clone())
    }

    /// Deletes one metadata key of a volume.
    pub fn delete_volume_metadata(
        &mut self,
        c: &Caller,
        id: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        check_metadata_status(v, "Deleting")?;
        if v.metadata.remove(key).is_none() {
            return Err(not_found(format!(
                "Volume {id} has no metadata with key {key}."
            )));
        }
        v.updated_at = Some(now);
        Ok(())
    }

    /// Starts deleting a volume (`deleting`, gone at `clock.ready_at`); `cascade` deletes its
    /// snapshots too, `force` (admin) skips the status check.
    pub fn delete_volume(
        &mut self,
        c: &Caller,
        id: &str,
        cascade: bool,
        force: bool,
        clock: Clock,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume(c, id)?;
        let status_ok = force || v.status.deletable();
        let snapshots_ok = v.snapshots.is_empty()
            || (cascade
                && v.snapshots.iter().all(|s| {
                    self.snapshots.get(s).is_some_and(|s| {
                        matches!(s.status, SnapshotStatus::Available | SnapshotStatus::Error)
                    })
                }));
        if !status_ok || !v.attachments.is_empty() || !snapshots_ok {
            return Err(undeletable(force));
        }
        for s in v.snapshots.clone() {
            if let Some(s) = self.snapshots.get_mut(&s) {
                s.status = SnapshotStatus::Deleting;
                s.updated_at = Some(clock.now);
            }
        }
        if let Some(v) = self.volumes.get_mut(id) {
            v.set_status(VolumeStatus::Deleting, clock.now);
        }
        self.schedule_volume(id, clock.ready_at, Outcome::Gone);
        Ok(())
    }

    /// Starts extending a volume to `new_size` GiB (`in_use_ok` from microversion 3.42).
    pub fn extend_volume(
        &mut self,
        c: &Caller,
        id: &str,
        new_size: u64,
        in_use_ok: bool,
        clock: Clock,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume(c, id)?;
        if new_size <= v.size {
            return Err(bad(format!(
                "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                v.size
            )));
        }
        let expected = if in_use_ok && v.status == VolumeStatus::InUse {
            VolumeStatus::InUse
        } else {
            VolumeStatus::Available
        };
        if v.status != expected {
            return Err(bad(format!(
                "Invalid volume: Volume {id} status must be '{{'status': '{}'}}' to extend, currently {}.",
                expected.as_str(),
                v.status.as_str()
            )));
        }
        let (project, type_id, delta) =
            (v.project_id.clone(), v.type_id.clone(), new_size - v.size);
        self.check_extend_quota(&project, &type_id, new_size, delta)?;
        self.quotas.add(
            &project,
            &type_id,
            Counts {
                gigabytes: delta as i64,
                ..Counts::default()
            },
        );
        if let Some(v) = self.volumes.get_mut(id) {
            v.set_status(VolumeStatus::Extending, clock.now);
        }
        self.schedule_volume(id, clock.ready_at, Outcome::Extended(new_size));
        Ok(())
    }

    fn check_extend_quota(
        &self,
        project: &str,
        type_id: &str,
        new_size: u64,
        delta: u64,
    ) -> Result<(), ApiError> {
        let limit = self.quotas.limit(project, "per_volume_gigabytes");
        if limit >= 0 && new_size as i64 > limit {
            return Err(ApiError::new(
                Service::Volume,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("VolumeSizeExceedsLimit: Requested volume size {new_size}G is larger than maximum allowed limit {limit}G."),
            ));
        }
        self.check_quota(project, type_id, delta, 0, 0)
            .map_err(|e| e.for_service(Service::Volume))
    }

    /// `os-retype`: the volume takes the new type (`retyping` until `clock.ready_at`).
    pub fn retype_volume(
        &mut self,
        c: &Caller,
        id: &str,
        new_type: &str,
        clock: Clock,
    ) -> Result<(), ApiError> {
        let type_id = self.type_by_name_or_id(new_type)?.id.clone();
        let v = self.visible_volume(c, id)?;
        let movable = matches!(v.status, VolumeStatus::Available | VolumeStatus::InUse);
        if !movable || v.type_id == type_id {
            return Err(bad("Invalid volume: Retype needs volume to be in available or in-use state, not be part of an active migration or a consistency group, requested type has to be different that the one from the volume, and for in-use volumes front-end qos specs cannot change."));
        }
        let (project, old, size, back) =
            (v.project_id.clone(), v.type_id.clone(), v.size, v.status);
        self.quotas.move_type(&project, &old, &type_id, size as i64);
        if let Some(v) = self.volumes.get_mut(id) {
            v.type_id = type_id;
            v.set_status(VolumeStatus::Retyping, clock.now);
        }
        self.schedule_volume(id, clock.ready_at, Outcome::Status(back));
        Ok(())
    }

    /// `revert` (3.40): the volume takes its latest snapshot's bytes (`reverting` until
    /// `clock.ready_at`).
    pub fn revert_volume(
        &mut self,
        c: &Caller,
        id: &str,
        snapshot_id: Option<&str>,
        clock: Clock,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume(c, id)?;
        let latest = v
            .snapshots
            .last()
            .and_then(|s| self.snapshots.get(s))
            .ok_or_else(|| bad(format!("Volume {id} doesn't have any snapshots.")))?;
        let asked = snapshot_id.unwrap_or("None");
        if asked != latest.id {
            return Err(bad(format!(
                "Specified snapshot {asked} is None or not the latest one of volume {id}."
            )));
        }
        let cannot = |what: &str, kind: &str| {
            ApiError::conflict(
                Service::Volume,
                format!("Invalid {kind}: Can't revert volume {id} to its latest snapshot {asked}. {what}"),
            )
        };
        if v.size != latest.size {
            return Err(bad(format!("Can't revert volume {id} to its latest snapshot {asked}. The volume size must be equal to the snapshot size.")));
        }
        if v.status != VolumeStatus::Available {
            return Err(cannot("Volume's status must be 'available'.", "volume"));
        }
        if latest.status != SnapshotStatus::Available {
            return Err(cannot("Snapshot's status must be 'available'.", "snapshot"));
        }
        let data = latest.data.clone();
        if let Some(v) = self.volumes.get_mut(id) {
            v.data = data;
            v.set_status(VolumeStatus::Reverting, clock.now);
        }
        self.schedule_volume(id, clock.ready_at, Outcome::Status(VolumeStatus::Available));
        Ok(())
    }

    /// Admin `os-reset_status`: sets the status (and with `attach_status: detached`, drops
    /// the attachments).
    pub fn reset_volume_status(
        &mut self,
        c: &Caller,
        id: &str,
        status: Option<VolumeStatus>,
        detach_all: bool,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        v.pending = None;
        if let Some(s) = status {
            v.set_status(s, now);
        }
        let attachments = if detach_all {
            std::mem::take(&mut v.attachments)
        } else {
            vec![]
        };
        for a in attachments {
            self.attachments.remove(&a);
        }
        Ok(())
    }

    /// `os-set_bootable`.
    pub fn set_bootable(
        &mut self,
        c: &Caller,
        id: &str,
        bootable: bool,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        v.bootable = bootable;
        v.updated_at = Some(now);
        Ok(())
    }

    /// Starts an upload to image (`uploading`, back to the previous status at
    /// `clock.ready_at`). `force` allows an `in-use` volume. Returns the volume as it was.
    pub fn begin_upload(
        &mut self,
        c: &Caller,
        id: &str,
        force: bool,
        clock: Clock,
    ) -> Result<Volume, ApiError> {
        let v = self.visible_volume(c, id)?;
        let allowed: &[VolumeStatus] = if force {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        if !allowed.contains(&v.status) {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            return Err(bad(format!(
                "Invalid volume: Volume {id} status must be {}",
                or_str(&names)
            )));
        }
        let before = v.clone();
        if let Some(v) = self.volumes.get_mut(id) {
            v.set_status(VolumeStatus::Uploading, clock.now);
        }
        self.schedule_volume(id, clock.ready_at, Outcome::Status(before.status));
        Ok(before)
    }

    /// Legacy `os-reserve`: `available` → `attaching`.
    pub fn reserve(&mut self, c: &Caller, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        if v.status != VolumeStatus::Available {
            return Err(bad(format!(
                "Invalid volume: Volume status must be available to reserve, but the status is {}.",
                v.status.as_str()
            )));
        }
        v.set_status(VolumeStatus::Attaching, now);
        Ok(())
    }

    /// Legacy `os-unreserve`: `attaching` → `in-use` or `available`.
    pub fn unreserve(&mut self, c: &Caller, id: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        if v.status == VolumeStatus::Attaching {
            let s = if v.attachments.is_empty() {
                VolumeStatus::Available
            } else {
                VolumeStatus::InUse
            };
            v.set_status(s, now);
        }
        Ok(())
    }

    /// Legacy `os-begin_detaching`: `in-use` → `detaching`.
    pub fn begin_detaching(
        &mut self,
        c: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        if v.status != VolumeStatus::InUse || v.attachments.is_empty() {
            return Err(bad("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach."));
        }
        v.set_status(VolumeStatus::Detaching, now);
        Ok(())
    }

    /// Legacy `os-roll_detaching`: `detaching` → `in-use`.
    pub fn roll_detaching(
        &mut self,
        c: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume_mut(c, id)?;
        if v.status == VolumeStatus::Detaching {
            v.set_status(VolumeStatus::InUse, now);
        }
        Ok(())
    }

    /// Legacy `os-attach` (after `os-reserve`, or from `available`).
    pub fn legacy_attach(
        &mut self,
        c: &Caller,
        id: &str,
        server_id: Option<&str>,
        host: Option<&str>,
        mountpoint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume(c, id)?;
        if v.status == VolumeStatus::Maintenance {
            return Err(bad(
                "Invalid volume: The volume cannot be attached in maintenance mode.",
            ));
        }
        if !matches!(v.status, VolumeStatus::Available | VolumeStatus::Attaching) {
            return Err(bad(format!(
                "Invalid volume: Volume status must be available to reserve, but the status is {}.",
                v.status.as_str()
            )));
        }
        self.add_attachment(id, server_id, host, Some(mountpoint), now);
        Ok(())
    }

    /// Legacy `os-detach`: one attachment (or the only one) goes away.
    pub fn legacy_detach(
        &mut self,
        c: &Caller,
        id: &str,
        attachment_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let v = self.visible_volume(c, id)?;
        if v.status == VolumeStatus::Maintenance {
            return Err(bad(
                "Invalid volume: The volume cannot be detached in maintenance mode.",
            ));
        }
        let target = match attachment_id {
            Some(a) if v.attachments.iter().any(|x| x == a) => a.to_string(),
            Some(a) => {
                return Err(not_found(format!(
                    "Volume attachment could not be found with filter: attachment_id = {a}, volume_id = {id}."
                )))
            }
            None if v.attachments.len() == 1 => v.attachments[0].clone(),
            None => {
                return Err(bad(
                    "Invalid volume: Volume has multiple attachments and no attachment_id was provided.",
                ))
            }
        };
        if let Some(a) = self.attachments.get(&target) {
            check_not_nova(a)?;
        }
        self.remove_attachment(&target, now);
        Ok(())
    }

    /// Attachments API create: reserves the volume for a server, and connects it when a
    /// connector is given.
    pub fn create_attachment(
        &mut self,
        c: &Caller,
        volume_id: &str,
        server_id: Option<&str>,
        connector: Option<Connector>,
        mode: Option<&'static str>,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let v = self.visible_volume(c, volume_id)?;
        if v.status.as_str().contains("error") {
            return Err(bad(format!(
                "Invalid volume: Volume attachments can not be created if the volume is in an error state. The Volume {volume_id} currently has a status of: {} ",
                v.status.as_str()
            )));
        }
        let reserved_by_same_server = server_id.is_some()
            && matches!(v.status, VolumeStatus::InUse | VolumeStatus::Reserved)
            && v.attachments.iter().any(|a| {
                self.attachments
                    .get(a)
                    .is_some_and(|a| a.server_id.as_deref() == server_id)
            });
        let reservable = matches!(
            v.status,
            VolumeStatus::Available | VolumeStatus::Downloading
        );
        if !reservable && !reserved_by_same_server {
            return Err(bad(format!(
                "Invalid volume: Volume {volume_id} status must be available or downloading to reserve, but the current status is {}.",
                v.status.as_str()
            )));
        }
        if let Some(v) = self.volumes.get_mut(volume_id) {
            if reservable {
                v.set_status(VolumeStatus::Reserved, now);
            }
        }
        let id = self.insert_attachment(volume_id, server_id, AttachStatus::Reserved, now);
        if let Some(a) = self.attachments.get_mut(&id) {
            a.mode = mode;
        }
        if let Some(conn) = connector {
            self.connect_attachment(&id, conn, now);
        }
        Ok(id)
    }

    /// Connects an attachment: Cinder marks it attached and the volume `in-use`.
    fn connect_attachment(&mut self, id: &str, conn: Connector, now: DateTime<Utc>) {
        let Some(a) = self.attachments.get_mut(id) else {
            return;
        };
        a.mode = a.mode.or(conn.mode).or(Some("rw"));
        a.host = Some(conn.host);
        a.device = Some(conn.mountpoint);
        a.connected = true;
        a.status = AttachStatus::Attached;
        a.attached_at = Some(now);
        let volume_id = a.volume_id.clone();
        if let Some(v) = self.volumes.get_mut(&volume_id) {
            v.set_status(VolumeStatus::InUse, now);
        }
    }

    /// The attachment `id` if the caller may see it.
    pub fn visible_attachment(&self, c: &Caller, id: &str) -> Result<&Attachment, ApiError> {
        self.attachments
            .get(id)
            .filter(|a| c.admin || a.project_id == c.project_id)
            .ok_or_else(|| {
                not_found(format!(
                    "Volume attachment could not be found with filter: attachment_id = {id}."
                ))
            })
    }

    /// Attachments API update: connects a reserved attachment.
    pub fn update_attachment(
        &mut self,
        c: &Caller,
        id: &str,
        conn: Connector,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let a = self.visible_attachment(c, id)?;
        let v = self.visible_volume(c, &a.volume_id.clone())?;
        if v.status.as_str().contains("error") {
            return Err(ApiError::conflict(
                Service::Volume,
                format!(
                    "Volume attachments can not be updated if the volume is in an error state. The Volume {} currently has a status of: {} ",
                    v.id,
                    v.status.as_str()
                ),
            ));
        }
        self.connect_attachment(id, conn, now);
        Ok(())
    }

    /// Attachments API `os-complete`: the attachment is attached, the volume `in-use`.
    pub fn complete_attachment(
        &mut self,
        c: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let volume_id = self.visible_attachment(c, id)?.volume_id.clone();
        if let Some(a) = self.attachments.get_mut(id) {
            a.status = AttachStatus::Attached;
            a.attached_at = a.attached_at.or(Some(now));
        }
        if let Some(v) = self.volumes.get_mut(&volume_id) {
            v.set_status(VolumeStatus::InUse, now);
        }
        Ok(())
    }

    /// Attachments API delete (Nova's attachments only through the Compute API).
    pub fn delete_attachment(
        &mut self,
        c: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        check_not_nova(self.visible_attachment(c, id)?)?;
        self.remove_attachment(id, now);
        Ok(())
    }

    /// Creates a snapshot of a volume (`creating`, then `available`). `allow_in_use` from
    /// `force` or microversion 3.66.
    pub fn create_snapshot(
        &mut self,
        c: &Caller,
        req: SnapshotRequest,
        clock: Clock,
    ) -> Result<String, ApiError> {
        let volume_id = req.volume_id.as_str();
        let v = self.visible_volume(c, volume_id)?;
        check_snapshot_source(v, req.allow_in_use)?;
        let (project, type_id, size, data) = (
            v.project_id.clone(),
            v.type_id.clone(),
            v.size,
            v.data.clone(),
        );
        self.check_quota(&project, &type_id, size, 0, 1)
            .map_err(|e| e.for_service(Service::Volume))?;
        self.quotas.add(
            &project,
            &type_id,
            Counts {
                volumes: 0,
                gigabytes: size as i64,
                snapshots: 1,
            },
        );
        let id = new_uuid();
        let seq = self.next_seq();
        let s = Snapshot {
            seq,
            id: id.clone(),
            project_id: project,
            user_id: c.user_id.clone(),
            volume_id: volume_id.into(),
            name: req.name,
            description: req.description,
            size,
            status: SnapshotStatus::Creating,
            pending: None,
            metadata: req.metadata,
            data,
            created_at: clock.now,
            updated_at: None,
        };
        self.snapshots.insert(id.clone(), s);
        if let Some(v) = self.volumes.get_mut(volume_id) {
            v.snapshots.push(id.clone());
        }
        self.schedule_snapshot(&id, clock.ready_at, Some(SnapshotStatus::Available));
        Ok(id)
    }

    /// Starts deleting a snapshot (`available` or `error` only, unless `force`).
    pub fn delete_snapshot(
        &mut self,
        c: &Caller,
        id: &str,
        force: bool,
        clock: Clock,
    ) -> Result<(), ApiError> {
        let s = self.visible_snapshot(c, id)?;
        if !force && !matches!(s.status, SnapshotStatus::Available | SnapshotStatus::Error) {
            return Err(bad(
                "Invalid snapshot: Snapshot status must be available or error and must not be part of a group.",
            ));
        }
        if let Some(s) = self.snapshots.get_mut(id) {
            s.status = SnapshotStatus::Deleting;
            s.updated_at = Some(clock.now);
        }
        self.schedule_snapshot(id, clock.ready_at, None);
        Ok(())
    }

    /// Renames / re-describes a snapshot.
    pub fn update_snapshot(
        &mut self,
        c: &Caller,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        self.visible_snapshot(c, id)?;
        if let Some(s) = self.snapshots.get_mut(id) {
            if let Some(n) = name {
                s.name = n;
            }
            if let Some(d) = description {
                s.description = d;
            }
            s.updated_at = Some(now);
        }
        Ok(())
    }

    /// Admin `os-reset_status` of a snapshot.
    pub fn reset_snapshot_status(
        &mut self,
        c: &Caller,
        id: &str,
        status: SnapshotStatus,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        self.visible_snapshot(c, id)?;
        if let Some(s) = self.snapshots.get_mut(id) {
            s.pending = None;
            s.status = status;
            s.updated_at = Some(now);
        }
        Ok(())
    }
}

/// A connector given to the attachments API: where the volume gets connected.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    pub host: String,
    pub mountpoint: String,
    pub mode: Option<&'static str>,
}

/// Cinder's 409 when a user removes an attachment Nova made.
fn check_not_nova(a: &Attachment) -> Result<(), ApiError> {
    if a.by_nova && a.connected {
        return Err(ApiError::conflict(
            Service::Volume,
            format!(
                "ConflictNovaUsingAttachment: Detach volume from instance {} using the Compute API",
                a.server_id.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Cinder refuses metadata changes while a volume is busy.
fn check_metadata_status(v: &Volume, verb: &str) -> Result<(), ApiError> {
    if matches!(
        v.status,
        VolumeStatus::Maintenance | VolumeStatus::Uploading
    ) {
        return Err(bad(format!(
            "Invalid volume: {verb} volume metadata is not allowed for volumes in {} status.",
            v.status.as_str()
        )));
    }
    Ok(())
}

/// Whether a snapshot may be taken of the volume now.
fn check_snapshot_source(v: &Volume, allow_in_use: bool) -> Result<(), ApiError> {
    if !v.scheduled {
        return Err(bad("Invalid volume: The snapshot cannot be created because volume has not been scheduled to any host."));
    }
    match v.status {
        VolumeStatus::Maintenance => {
            return Err(bad(
                "Invalid volume: The snapshot cannot be created when the volume is in maintenance mode.",
            ))
        }
        VolumeStatus::Error => {
            return Err(bad(
                "Invalid volume: The snapshot cannot be created when the volume is in error status.",
            ))
        }
        _ => {}
    }
    let valid: &[&str] = if allow_in_use {
        &["available", "in-use"]
    } else {
        &["available"]
    };
    if !valid.contains(&v.status.as_str()) {
        return Err(bad(format!(
            "Invalid volume: Volume {} status must be {}, but current status is: {}.",
            v.id,
            valid.join(", "),
            v.status.as_str()
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum OriginKind {
    #[default]
    Blank,
    Snapshot,
    Volume,
}

/// What a new volume inherits from its snapshot or source volume.
#[derive(Debug, Clone, Default)]
struct Origin {
    kind: OriginKind,
    size: Option<u64>,
    bootable: bool,
    image_metadata: Option<BTreeMap<String, String>>,
    data: Option<bytes::Bytes>,
}

impl Origin {
    /// A new volume may not be smaller than what it copies.
    fn check_size(&self, size: u64) -> Result<(), ApiError> {
        let Some(min) = self.size.filter(|m| size < *m) else {
            return Ok(());
        };
        let msg = match self.kind {
            OriginKind::Snapshot => format!(
                "Invalid input received: Volume size '{size}'GB cannot be smaller than the snapshot size {min}GB. They must be >= original snapshot size."
            ),
            _ => format!(
                "Invalid input received: Volume size '{size}'GB cannot be smaller than original volume size  {min}GB. They must be >= original volume size."
            ),
        };
        Err(bad(msg))
    }
}
