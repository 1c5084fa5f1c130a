//! JSON views of Cinder records, per microversion and caller, as Cinder's view builders and
//! API extensions render them.

use super::model::{AttachStatus, Attachment, Snapshot, SnapshotStatus, Volume, VolumeType};
use super::VolumeData;
use chrono::{DateTime, Utc};
use fedstack_api_types::Microversion;
use serde_json::{json, Map, Value};

/// Cinder's timestamp as read back from its database: `2026-11-21T14:56:26.000000`.
pub fn db_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S.000000").to_string()
}

/// Cinder's timestamp of a record just created (not yet read back): with microseconds.
pub fn fresh_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(db_time(t)))
}

/// How links are written: the service root and whether the request URL named the project.
#[derive(Debug, Clone)]
pub struct Links {
    /// `http://127.0.0.1:PORT/volume`
    pub root: String,
    /// The project ID when the request URL carried it (`/v3/{project_id}/...`).
    pub project: Option<String>,
}

impl Links {
    fn project_part(&self) -> String {
        self.project
            .as_ref()
            .map(|p| format!("{p}/"))
            .unwrap_or_default()
    }

    /// `.../v3/{project}/{collection}` (the project part only when the URL had it).
    pub fn collection(&self, collection: &str) -> String {
        format!("{}/v3/{}{collection}", self.root, self.project_part())
    }

    /// The `self` and `bookmark` links of a record.
    pub fn of(&self, collection: &str, id: &str) -> Value {
        let p = self.project_part();
        json!([
            {"rel": "self", "href": format!("{}/v3/{p}{collection}/{id}", self.root)},
            {"rel": "bookmark", "href": format!("{}/{p}{collection}/{id}", self.root)},
        ])
    }
}

/// Who is asking and at which microversion.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub mv: Microversion,
    pub admin: bool,
    pub links: Links,
}

/// What a volume view carries beyond Cinder's core view builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Create and update answers: the view builder only, fresh timestamps on create.
    Created,
    Updated,
    /// Show and detail: with the API extensions (tenant, host, image metadata...).
    Shown,
}

impl Viewer {
    fn at_least(&self, minor: u16) -> bool {
        self.mv.at_least(3, minor)
    }

    /// A volume in a list without details.
    pub fn volume_summary(&self, v: &Volume) -> Value {
        json!({"id": v.id, "name": v.name, "links": self.links.of("volumes", &v.id)})
    }

    /// A volume's detailed view.
    pub fn volume(&self, d: &VolumeData, v: &Volume, shape: Shape) -> Value {
        let type_ = d.types.get(&v.type_id);
        let created_at = match shape {
            Shape::Created => fresh_time(v.created_at),
            _ => db_time(v.created_at),
        };
        let mut m = json!({
            "id": v.id,
            "status": v.status.as_str(),
            "size": v.size,
            "availability_zone": v.availability_zone,
            "created_at": created_at,
            "updated_at": opt_time(v.updated_at),
            "name": v.name,
            "description": v.description,
            "volume_type": type_.map(|t| t.name.as_str()),
            "snapshot_id": v.snapshot_id,
            "source_volid": v.source_volid,
            "metadata": v.metadata,
            "links": self.links.of("volumes", &v.id),
            "user_id": v.user_id,
            "bootable": v.bootable.to_string(),
            "encrypted": false,
            "replication_status": null,
            "consistencygroup_id": null,
            "multiattach": false,
            "attachments": self.volume_attachments(d, v),
        });
        let Value::Object(o) = &mut m else {
            return m;
        };
        self.versioned_volume_fields(o, d, v);
        if shape == Shape::Shown {
            self.volume_extensions(o, d, v);
        }
        m
    }

    fn volume_attachments(&self, d: &VolumeData, v: &Volume) -> Value {
        v.attachments
            .iter()
            .filter_map(|id| d.attachments.get(id))
            .filter(|a| a.status == AttachStatus::Attached)
            .map(|a| {
                json!({
                    "id": v.id,
                    "attachment_id": a.id,
                    "volume_id": v.id,
                    "server_id": a.server_id,
                    "host_name": if self.admin { json!(a.host) } else { Value::Null },
                    "device": a.device,
                    "attached_at": a.attached_at.map(db_time),
                })
            })
            .collect()
    }

    fn versioned_volume_fields(&self, o: &mut Map<String, Value>, d: &VolumeData, v: &Volume) {
        if self.admin {
            o.insert("migration_status".into(), Value::Null);
        }
        if self.at_least(13) {
            o.insert("group_id".into(), Value::Null);
        }
        if self.admin && self.at_least(21) {
            o.insert("provider_id".into(), Value::Null);
        }
        if self.at_least(48) {
            o.insert("shared_targets".into(), json!(!v.scheduled));
            let uuid = v.scheduled.then_some(d.service_uuid.as_str());
            o.insert("service_uuid".into(), json!(uuid));
        }
        if self.admin && self.at_least(61) {
            o.insert("cluster_name".into(), Value::Null);
        }
        if self.at_least(63) {
            o.insert("volume_type_id".into(), json!(v.type_id));
        }
        if self.at_least(65) {
            o.insert("consumes_quota".into(), json!(true));
        }
    }

    fn volume_extensions(&self, o: &mut Map<String, Value>, d: &VolumeData, v: &Volume) {
        if self.admin {
            let host = v.scheduled.then_some(d.backend_host.as_str());
            o.insert("os-vol-host-attr:host".into(), json!(host));
            o.insert("os-vol-mig-status-attr:migstat".into(), Value::Null);
            o.insert("os-vol-mig-status-attr:name_id".into(), Value::Null);
        }
        o.insert("os-vol-tenant-attr:tenant_id".into(), json!(v.project_id));
        if let Some(meta) = &v.image_metadata {
            o.insert("volume_image_metadata".into(), json!(meta));
        }
    }

    /// A snapshot in a list without details, or as created.
    pub fn snapshot_summary(&self, s: &Snapshot, fresh: bool) -> Value {
        let created_at = if fresh {
            fresh_time(s.created_at)
        } else {
            db_time(s.created_at)
        };
        json!({
            "id": s.id,
            "created_at": created_at,
            "updated_at": opt_time(s.updated_at),
            "name": s.name,
            "description": s.description,
            "volume_id": s.volume_id,
            "status": s.status.as_str(),
            "size": s.size,
            "metadata": s.metadata,
        })
    }

    /// A snapshot's detailed view (`extended` adds the show/detail extension attributes).
    pub fn snapshot(&self, s: &Snapshot, fresh: bool, extended: bool) -> Value {
        let mut m = self.snapshot_summary(s, fresh);
        let Value::Object(o) = &mut m else {
            return m;
        };
        if self.at_least(14) {
            o.insert("group_snapshot_id".into(), Value::Null);
        }
        if self.at_least(41) {
            o.insert("user_id".into(), json!(s.user_id));
        }
        if self.at_least(65) {
            o.insert("consumes_quota".into(), json!(true));
        }
        if extended {
            let progress = match s.status {
                SnapshotStatus::Creating => "0%",
                _ => "100%",
            };
            o.insert(
                "os-extended-snapshot-attributes:project_id".into(),
                json!(s.project_id),
            );
            o.insert(
                "os-extended-snapshot-attributes:progress".into(),
                json!(progress),
            );
        }
        m
    }
}

/// An attachment without details.
pub fn attachment_summary(a: &Attachment) -> Value {
    json!({
        "id": a.id,
        "status": a.status.as_str(),
        "instance": a.server_id,
        "volume_id": a.volume_id,
    })
}

/// An attachment with its connection info (`{}` until a connector was given).
pub fn attachment_detail(a: &Attachment) -> Value {
    let mut m = attachment_summary(a);
    let mode = a.mode.unwrap_or("null");
    let connection = if a.connected {
        json!({
            "access_mode": mode,
            "qos_specs": null,
            "encrypted": false,
            "cacheable": false,
            "driver_volume_type": "iscsi",
            "attachment_id": a.id,
            "enforce_multipath": false,
        })
    } else {
        json!({})
    };
    if let Value::Object(o) = &mut m {
        let attached_at = a.attached_at.map(db_time).unwrap_or_default();
        o.insert("attached_at".into(), json!(attached_at));
        o.insert("detached_at".into(), json!(""));
        o.insert("attach_mode".into(), json!(mode));
        o.insert("connection_info".into(), connection);
    }
    m
}

/// A volume type; non-admins see only the user-visible extra specs.
pub fn volume_type(t: &VolumeType, admin: bool) -> Value {
    let mut m = json!({
        "id": t.id,
        "name": t.name,
        "is_public": t.is_public,
        "description": t.description,
    });
    if let Value::Object(o) = &mut m {
        if admin {
            o.insert("extra_specs".into(), json!(t.extra_specs));
        } else {
            let visible: Map<String, Value> = t
                .extra_specs
                .iter()
                .filter(|(k, _)| USER_VISIBLE_EXTRA_SPECS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            o.insert("extra_specs".into(), Value::Object(visible));
        }
        o.insert("os-volume-type-access:is_public".into(), json!(t.is_public));
        if admin {
            o.insert("qos_specs_id".into(), Value::Null);
        }
    }
    m
}

/// The extra specs Cinder shows to non-admins (`extra_specs_read` policy scope).
const USER_VISIBLE_EXTRA_SPECS: [&str; 3] = [
    "multiattach",
    "RESKEY:availability_zones",
    "replication_enabled",
];

/// The `volume_type` object embedded in an upload-to-image answer.
pub fn upload_volume_type(t: &VolumeType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "extra_specs": t.extra_specs,
        "qos_specs_id": null,
        "created_at": db_time(t.created_at),
        "updated_at": db_time(t.created_at),
        "deleted_at": null,
        "deleted": false,
    })
}
