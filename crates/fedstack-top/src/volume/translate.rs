//! Translation between a site's view of a volume or snapshot and the top's: IDs (the record,
//! its server attachments, snapshot, source volume, type, image), links, availability zone,
//! project and user, and the routing marker.

use super::{links, TOP_ID_KEY};
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_api_types::time;
use fedstack_store::routes::kind as route_kind;
use fedstack_store::volumes::{kind, VolumeRow};
use serde_json::{json, Value};

/// What the top knows of a record besides the site's document.
pub struct Known<'a> {
    pub top_id: &'a str,
    pub project_id: &'a str,
    /// The top user who made it (empty when unknown, e.g. a volume a site made for a server).
    pub user_id: &'a str,
    pub site: &'a SiteHandle,
}

/// The top ID of a site record of `kind`, if the top routes it.
pub async fn top_id_of(top: &Top, kind: &str, site: &SiteHandle, site_id: &str) -> Option<String> {
    top.store
        .route_by_site_id(kind, site.id(), site_id)
        .await
        .ok()
        .flatten()
        .map(|r| r.top_id)
}

/// Replaces a site ID at `v[key]` by its top ID (left as is when the top does not route it).
async fn map_id(top: &Top, v: &mut Value, key: &str, kind: &str, site: &SiteHandle) {
    if let Some(id) = v.get(key).and_then(Value::as_str).map(String::from) {
        if let Some(t) = top_id_of(top, kind, site, &id).await {
            v[key] = json!(t);
        }
    }
}

fn hide_marker(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(TOP_ID_KEY);
    }
}

/// The site's volume document in top terms.
pub async fn volume(top: &Top, k: &Known<'_>, site_volume: &Value) -> Value {
    let mut v = site_volume.clone();
    let site = k.site;
    v["id"] = json!(k.top_id);
    v["links"] = links(top, "volumes", k.top_id);
    v["availability_zone"] = json!(site.record.az);
    if v.get("os-vol-tenant-attr:tenant_id").is_some() {
        v["os-vol-tenant-attr:tenant_id"] = json!(k.project_id);
    }
    v["user_id"] = if k.user_id.is_empty() {
        Value::Null
    } else {
        json!(k.user_id)
    };
    hide_marker(&mut v);
    map_id(top, &mut v, "snapshot_id", kind::SNAPSHOT, site).await;
    map_id(top, &mut v, "source_volid", kind::VOLUME, site).await;
    if let Some(type_id) = v
        .get("volume_type_id")
        .and_then(Value::as_str)
        .map(String::from)
    {
        if let Ok(Some(t)) = top.store.top_volume_type_of(site.id(), &type_id).await {
            v["volume_type_id"] = json!(t);
        } else if let Some(name) = v.get("volume_type").and_then(Value::as_str) {
            if let Ok(Some(t)) = top.store.volume_type(name).await {
                v["volume_type_id"] = json!(t.id);
            }
        }
    }
    if let Some(image_id) = v
        .pointer("/volume_image_metadata/image_id")
        .and_then(Value::as_str)
        .map(String::from)
    {
        if let Ok(Some(t)) = top.store.top_image_of(site.id(), &image_id).await {
            v["volume_image_metadata"]["image_id"] = json!(t);
        }
    }
    if let Some(atts) = v.get_mut("attachments").and_then(Value::as_array_mut) {
        for a in atts.iter_mut() {
            a["id"] = json!(k.top_id);
            a["volume_id"] = json!(k.top_id);
            map_id(top, a, "server_id", route_kind::SERVER, site).await;
        }
    }
    v
}

/// The site's snapshot document in top terms.
pub async fn snapshot(top: &Top, k: &Known<'_>, site_snapshot: &Value) -> Value {
    let mut v = site_snapshot.clone();
    v["id"] = json!(k.top_id);
    if v.get("links").is_some() {
        v["links"] = links(top, "snapshots", k.top_id);
    }
    if v.get("os-extended-snapshot-attributes:project_id")
        .is_some()
    {
        v["os-extended-snapshot-attributes:project_id"] = json!(k.project_id);
    }
    if v.get("user_id").is_some() {
        v["user_id"] = json!(k.user_id);
    }
    hide_marker(&mut v);
    map_id(top, &mut v, "volume_id", kind::VOLUME, k.site).await;
    v
}

/// Milliseconds of a Cinder timestamp (0 when absent).
fn millis(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(time::parse)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// The index row of a translated document of `kind`.
pub fn index_row(kind: &str, k: &Known<'_>, body: Value) -> VolumeRow {
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_string();
    VolumeRow {
        kind: kind.to_string(),
        id: k.top_id.to_string(),
        project_id: k.project_id.to_string(),
        site_id: k.site.id().to_string(),
        name: body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        deleted: status == "deleted",
        status,
        created_at: millis(&body, "created_at"),
        updated_at: millis(&body, "updated_at").max(millis(&body, "created_at")),
        body,
    }
}

/// The top user recorded in an indexed body (empty when unknown).
pub fn user_of(row: Option<&VolumeRow>) -> String {
    row.and_then(|r| r.body.get("user_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
