//! A top image: its Glance record and what the top keeps beside it (replication policy,
//! whether it holds the data), read from and written to the `images` table.

use chrono::{DateTime, Utc};
use fedstack_api_types::glance::respond::bad_request;
use fedstack_api_types::glance::{Attrs, Digests, ImageRecord, ImageStatus, Visibility};
use fedstack_api_types::ApiError;
use fedstack_store::images::ImageRow;
use serde_json::{json, Value};

/// The image property naming the replication policy.
pub const POLICY_PROPERTY: &str = "fedstack_replication";

/// A property (in Glance's reserved `os_glance` namespace, so no client can set it) holding
/// the attributes the `images` table has no column for; never shown.
const EXTRA_KEY: &str = "os_glance_fedstack";

/// How an image becomes available on sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Copied to every enabled site when its upload completes.
    Eager,
    /// Copied to a site at the first boot there.
    OnDemand,
    /// Already on sites; shown at the top, never copied.
    Register,
}

impl Policy {
    /// The policy as the image property names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Eager => "eager",
            Policy::OnDemand => "on-demand",
            Policy::Register => "register",
        }
    }

    fn parse(s: &str) -> Option<Policy> {
        [Policy::Eager, Policy::OnDemand, Policy::Register]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// The policy an image's properties ask for (`on-demand` when unset), or Glance's 400.
    pub fn of(attrs: &Attrs) -> Result<Policy, ApiError> {
        match attrs.properties.get(POLICY_PROPERTY) {
            None => Ok(Policy::OnDemand),
            Some(v) => v.as_str().and_then(Policy::parse).ok_or_else(|| {
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                bad_request(format!(
                    "Invalid value '{shown}' for property '{POLICY_PROPERTY}': it must be one of eager, on-demand, register."
                ))
            }),
        }
    }
}

/// An image of the top.
#[derive(Debug, Clone, PartialEq)]
pub struct TopImage {
    pub record: ImageRecord,
    pub policy: Policy,
    /// The top holds the data (uploaded to the top).
    pub local_data: bool,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl TopImage {
    /// The image a row stores.
    pub fn from_row(row: &ImageRow) -> TopImage {
        let mut properties = row.properties.clone();
        let extra = properties.remove(EXTRA_KEY).unwrap_or(Value::Null);
        let status = ImageStatus::parse(&row.status).unwrap_or(ImageStatus::Queued);
        let stored = match (status, row.size, &row.checksum, &row.hash_value) {
            (ImageStatus::Queued | ImageStatus::Saving, ..) => None,
            (_, Some(size), Some(md5), Some(sha512)) => Some(Digests {
                size: u64::try_from(size).unwrap_or(0),
                md5: md5.clone(),
                sha512: sha512.clone(),
            }),
            _ => None,
        };
        TopImage {
            record: ImageRecord {
                id: row.id.clone(),
                status,
                attrs: Attrs {
                    name: row.name.clone(),
                    owner: row.owner.clone(),
                    visibility: Visibility::parse(&row.visibility).unwrap_or_default(),
                    protected: row.protected,
                    os_hidden: extra["os_hidden"].as_bool().unwrap_or(false),
                    disk_format: row.disk_format.clone(),
                    container_format: row.container_format.clone(),
                    min_disk: u64::try_from(row.min_disk).unwrap_or(0),
                    min_ram: u64::try_from(row.min_ram).unwrap_or(0),
                    tags: row.tags.clone(),
                    properties,
                },
                size: stored.as_ref().map(|d| d.size),
                stored,
                virtual_size: extra["virtual_size"].as_u64(),
                created_at: time(row.created_at),
                updated_at: time(row.updated_at),
            },
            policy: match row.policy.as_str() {
                "eager" => Policy::Eager,
                "register" => Policy::Register,
                _ => Policy::OnDemand,
            },
            local_data: row.local_data,
        }
    }

    /// The row storing this image.
    pub fn to_row(&self) -> ImageRow {
        let r = &self.record;
        let a = &r.attrs;
        let d = r.stored.as_ref();
        let mut properties = a.properties.clone();
        if a.os_hidden || r.virtual_size.is_some() {
            properties.insert(
                EXTRA_KEY.into(),
                json!({"os_hidden": a.os_hidden, "virtual_size": r.virtual_size}),
            );
        }
        ImageRow {
            id: r.id.clone(),
            name: a.name.clone(),
            owner: a.owner.clone(),
            visibility: a.visibility.as_str().into(),
            status: r.status.as_str().into(),
            policy: self.policy.as_str().into(),
            size: d.map(|d| i64::try_from(d.size).unwrap_or(i64::MAX)),
            checksum: d.map(|d| d.md5.clone()),
            hash_value: d.map(|d| d.sha512.clone()),
            disk_format: a.disk_format.clone(),
            container_format: a.container_format.clone(),
            min_disk: i64::try_from(a.min_disk).unwrap_or(i64::MAX),
            min_ram: i64::try_from(a.min_ram).unwrap_or(i64::MAX),
            protected: a.protected,
            tags: a.tags.clone(),
            properties,
            local_data: self.local_data,
            created_at: r.created_at.timestamp_millis(),
            updated_at: r.updated_at.timestamp_millis(),
        }
    }

    /// True when `project_id` (or an admin) may see the image.
    pub fn visible_to(&self, project_id: &str, is_admin: bool) -> bool {
        is_admin || self.record.visible_without_membership(project_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let t = DateTime::from_timestamp_millis(1_790_000_000_000).unwrap_or_default();
        let image = TopImage {
            record: ImageRecord {
                id: "i".into(),
                status: ImageStatus::Active,
                attrs: Attrs {
                    name: Some("n".into()),
                    owner: "p".into(),
                    visibility: Visibility::Community,
                    os_hidden: true,
                    tags: vec!["a".into()],
                    ..Attrs::default()
                },
                size: Some(1),
                stored: Some(Digests::of(b"x")),
                virtual_size: Some(5),
                created_at: t,
                updated_at: t,
            },
            policy: Policy::Eager,
            local_data: true,
        };
        let row = image.to_row();
        assert!(row.properties.contains_key(EXTRA_KEY));
        assert_eq!(TopImage::from_row(&row), image);
        assert!(!image
            .record
            .to_json()
            .as_object()
            .unwrap()
            .contains_key(EXTRA_KEY));
    }

    #[test]
    fn policies_are_validated() {
        let mut a = Attrs::default();
        assert_eq!(Policy::of(&a).unwrap(), Policy::OnDemand);
        a.properties.insert(POLICY_PROPERTY.into(), "eager".into());
        assert_eq!(Policy::of(&a).unwrap(), Policy::Eager);
        a.properties.insert(POLICY_PROPERTY.into(), "lazy".into());
        assert_eq!(Policy::of(&a).unwrap_err().status, 400);
    }
}
