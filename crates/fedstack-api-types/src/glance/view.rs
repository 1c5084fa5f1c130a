//! Images as Glance writes them, and read back from another Glance's answers.

use super::create::BASE;
use super::{Attrs, Digests, ImageRecord, ImageStatus, Visibility};
use crate::time::{iso_z, parse};
use serde_json::{json, Map, Value};

/// The store every image's data lives in.
pub const STORE: &str = "fs";

/// Keys of an image document that are neither core attributes nor extra properties.
const VIEW_ONLY: [&str; 8] = [
    "self",
    "file",
    "schema",
    "stores",
    "os_hash_algo",
    "os_hash_value",
    "direct_url",
    "locations",
];

impl ImageRecord {
    /// The image: its extra properties first, then the core attributes, as Glance's
    /// serializer.
    pub fn to_json(&self) -> Value {
        let a = &self.attrs;
        let mut v: Map<String, Value> = a.properties.clone();
        let d = self.stored.as_ref();
        let core = json!({
            "name": a.name,
            "disk_format": a.disk_format,
            "container_format": a.container_format,
            "visibility": a.visibility.as_str(),
            "size": self.size,
            "virtual_size": d.and(self.virtual_size),
            "status": self.status.as_str(),
            "checksum": d.map(|d| d.md5.as_str()),
            "protected": a.protected,
            "min_ram": a.min_ram,
            "min_disk": a.min_disk,
            "owner": a.owner,
            "os_hidden": a.os_hidden,
            "os_hash_algo": d.map(|_| "sha512"),
            "os_hash_value": d.map(|d| d.sha512.as_str()),
            "id": self.id,
            "created_at": iso_z(self.created_at),
            "updated_at": iso_z(self.updated_at),
            "tags": a.tags,
            "self": format!("/v2/images/{}", self.id),
            "file": format!("/v2/images/{}/file", self.id),
            "schema": "/v2/schemas/image",
        });
        if let Value::Object(core) = core {
            v.extend(core);
        }
        if d.is_some() {
            v.insert("stores".into(), STORE.into());
        }
        Value::Object(v)
    }

    /// Reads an image document another Glance answered; `None` when it is not one (no `id`
    /// or an unknown status).
    pub fn from_json(v: &Value) -> Option<ImageRecord> {
        let o = v.as_object()?;
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |k: &str| o.get(k).and_then(Value::as_u64);
        let time = |k: &str| o.get(k).and_then(Value::as_str).and_then(parse);
        let status = ImageStatus::parse(o.get("status")?.as_str()?)?;
        let stored = match (number("size"), text("checksum"), text("os_hash_value")) {
            (Some(size), Some(md5), Some(sha512)) => Some(Digests { size, md5, sha512 }),
            _ => None,
        };
        let properties = o
            .iter()
            .filter(|(k, _)| !BASE.contains(&k.as_str()) && !VIEW_ONLY.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let tags = o
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let created_at = time("created_at")?;
        Some(ImageRecord {
            id: text("id")?,
            status,
            attrs: Attrs {
                name: text("name"),
                owner: text("owner").unwrap_or_default(),
                visibility: text("visibility")
                    .and_then(|v| Visibility::parse(&v))
                    .unwrap_or_default(),
                protected: o.get("protected").and_then(Value::as_bool).unwrap_or(false),
                os_hidden: o.get("os_hidden").and_then(Value::as_bool).unwrap_or(false),
                disk_format: text("disk_format"),
                container_format: text("container_format"),
                min_disk: number("min_disk").unwrap_or(0),
                min_ram: number("min_ram").unwrap_or(0),
                tags,
                properties,
            },
            size: number("size"),
            virtual_size: stored.as_ref().and(number("virtual_size")),
            stored,
            created_at,
            updated_at: time("updated_at").unwrap_or(created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../../shared/openstack-samples/image/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: Value = serde_json::from_str(&text).expect("sample JSON");
        v["response"]["body"].clone()
    }

    #[test]
    fn documents_round_trip_with_glance_order() {
        for name in [
            "004-images-create",
            "007-images-show-active",
            "020-images-show-server-snapshot-1",
        ] {
            let doc = sample(name);
            let record = ImageRecord::from_json(&doc).expect("an image");
            let back = record.to_json();
            assert_eq!(back, doc, "{name}");
            let keys = |v: &Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
            assert_eq!(keys(&back), keys(&doc), "{name}: key order");
        }
        assert!(ImageRecord::from_json(&json!({"id": "x"})).is_none());
    }
}
