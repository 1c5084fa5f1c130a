//! Images and members as Glance writes them.

use super::{Image, Member};
use fedstack_api_types::time::iso_z;
use serde_json::{json, Value};

/// An image: its extra properties first, then the core attributes, as Glance's serializer.
pub fn image(i: &Image) -> Value {
    i.record().to_json()
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
