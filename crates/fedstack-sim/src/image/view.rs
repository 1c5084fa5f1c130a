//! Images and members as Glance writes them.

use super::{Image, Member};
use fedstack_api_types::time::iso_z;
use serde_json::{json, Map, Value};

/// The store every image's data lives in.
pub const STORE: &str = "fs";

/// An image: its extra properties first, then the core attributes, as Glance's serializer.
pub fn image(i: &Image) -> Value {
    let mut v: Map<String, Value> = i.properties.clone();
    let digests = i.stored();
    let core = json!({
        "name": i.name,
        "disk_format": i.disk_format,
        "container_format": i.container_format,
        "visibility": i.visibility.as_str(),
        "size": i.shown_size(),
        "virtual_size": digests.and(i.virtual_size),
        "status": i.status.as_str(),
        "checksum": digests.map(|d| d.md5.as_str()),
        "protected": i.protected,
        "min_ram": i.min_ram,
        "min_disk": i.min_disk,
        "owner": i.owner,
        "os_hidden": i.os_hidden,
        "os_hash_algo": digests.map(|_| "sha512"),
        "os_hash_value": digests.map(|d| d.sha512.as_str()),
        "id": i.id,
        "created_at": iso_z(i.created_at),
        "updated_at": iso_z(i.updated_at),
        "tags": i.tags,
        "self": format!("/v2/images/{}", i.id),
        "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(core) = core {
        v.extend(core);
    }
    if digests.is_some() {
        v.insert("stores".into(), STORE.into());
    }
    Value::Object(v)
}

/// One membership of an image.
pub fn member(image_id: &str, member_id: &str, m: &Member) -> Value {
    json!({
        "member_id": member_id,
        "image_id": image_id,
        "status": m.status.as_str(),
        "created_at": iso_z(m.created_at),
        "updated_at": iso_z(m.updated_at),
        "schema": "/v2/schemas/member",
    })
}
