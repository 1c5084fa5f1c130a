//! The records Cinder keeps: volumes, snapshots, attachments and volume types.

use super::table::Owned;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A volume's status, as Cinder names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeStatus {
    Creating,
    Available,
    Reserved,
    Attaching,
    InUse,
    Detaching,
    Deleting,
    Extending,
    Uploading,
    Downloading,
    Retyping,
    Reverting,
    Maintenance,
    Error,
    ErrorDeleting,
    ErrorExtending,
    ErrorRestoring,
    ErrorManaging,
}

impl VolumeStatus {
    const ALL: [VolumeStatus; 18] = [
        Self::Creating,
        Self::Available,
        Self::Reserved,
        Self::Attaching,
        Self::InUse,
        Self::Detaching,
        Self::Deleting,
        Self::Extending,
        Self::Uploading,
        Self::Downloading,
        Self::Retyping,
        Self::Reverting,
        Self::Maintenance,
        Self::Error,
        Self::ErrorDeleting,
        Self::ErrorExtending,
        Self::ErrorRestoring,
        Self::ErrorManaging,
    ];

    /// The wire name (`in-use`, `error_extending`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Reserved => "reserved",
            Self::Attaching => "attaching",
            Self::InUse => "in-use",
            Self::Detaching => "detaching",
            Self::Deleting => "deleting",
            Self::Extending => "extending",
            Self::Uploading => "uploading",
            Self::Downloading => "downloading",
            Self::Retyping => "retyping",
            Self::Reverting => "reverting",
            Self::Maintenance => "maintenance",
            Self::Error => "error",
            Self::ErrorDeleting => "error_deleting",
            Self::ErrorExtending => "error_extending",
            Self::ErrorRestoring => "error_restoring",
            Self::ErrorManaging => "error_managing",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    /// True when Cinder lets the volume be deleted (without cascade or force).
    pub fn deletable(self) -> bool {
        matches!(
            self,
            Self::Available
                | Self::Error
                | Self::ErrorRestoring
                | Self::ErrorExtending
                | Self::ErrorManaging
        )
    }
}

/// What a volume becomes when its current operation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Enters a status (creating → available, uploading → available...).
    Status(VolumeStatus),
    /// Extend done: the new size, and `available` (or back to `in-use` if attached).
    Extended(u64),
    /// Delete done: the volume is gone.
    Gone,
}

/// An operation in progress, settled lazily once `at` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending<T> {
    pub at: DateTime<Utc>,
    pub then: T,
}

/// A Cinder volume.
#[derive(Debug, Clone)]
pub struct Volume {
    pub seq: u64,
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Size in GiB.
    pub size: u64,
    pub status: VolumeStatus,
    pub pending: Option<Pending<Outcome>>,
    pub type_id: String,
    pub availability_zone: String,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub bootable: bool,
    /// Glance properties of the image the volume was made from (`volume_image_metadata`).
    pub image_metadata: Option<BTreeMap<String, String>>,
    /// Attachment IDs, oldest first.
    pub attachments: Vec<String>,
    /// IDs of the volume's snapshots.
    pub snapshots: Vec<String>,
    /// The volume's bytes written so far (e.g. its image); the rest of `size` GiB reads as
    /// zeros. `None`: all zeros.
    pub data: Option<Bytes>,
    /// Set once the volume is scheduled to the backend (`service_uuid`, `shared_targets`).
    pub scheduled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Owned for Volume {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

impl Volume {
    /// Records a change of status at `now`.
    pub fn set_status(&mut self, status: VolumeStatus, now: DateTime<Utc>) {
        self.status = status;
        self.updated_at = Some(now);
    }
}

/// A snapshot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStatus {
    Creating,
    Available,
    Deleting,
    Error,
    ErrorDeleting,
}

impl SnapshotStatus {
    const ALL: [SnapshotStatus; 5] = [
        Self::Creating,
        Self::Available,
        Self::Deleting,
        Self::Error,
        Self::ErrorDeleting,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Deleting => "deleting",
            Self::Error => "error",
            Self::ErrorDeleting => "error_deleting",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// A volume snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub seq: u64,
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: u64,
    pub status: SnapshotStatus,
    /// `Some(None)`: deleted when due; `Some(Some(s))`: enters `s`.
    pub pending: Option<Pending<Option<SnapshotStatus>>>,
    pub metadata: BTreeMap<String, String>,
    /// The volume's bytes when the snapshot was taken.
    pub data: Option<Bytes>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Owned for Snapshot {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// How far an attachment got: reserved, connected (`attaching`), or completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachStatus {
    Reserved,
    Attaching,
    Attached,
}

impl AttachStatus {
    /// The wire name (`attach_status`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Attaching => "attaching",
            Self::Attached => "attached",
        }
    }
}

/// A volume attachment (to a Nova server, or reserved through the attachments API).
#[derive(Debug, Clone)]
pub struct Attachment {
    pub seq: u64,
    pub id: String,
    pub project_id: String,
    pub volume_id: String,
    pub server_id: Option<String>,
    pub host: Option<String>,
    pub device: Option<String>,
    pub status: AttachStatus,
    /// `rw` or `ro`; `None` shows as Cinder's `"null"`.
    pub mode: Option<&'static str>,
    /// A connector was given: the attachment has connection info.
    pub connected: bool,
    /// Made by Nova: only the Compute API may remove it.
    pub by_nova: bool,
    pub attached_at: Option<DateTime<Utc>>,
}

impl Owned for Attachment {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

/// A volume type.
#[derive(Debug, Clone)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}
