//! What Nova at the top asks of block storage when a server is created or shown: a server
//! whose block device mappings name top volumes (or snapshots) goes to their site, with the
//! site's IDs in its mappings; the volumes a site shows attached to a server get top IDs
//! (a root volume Nova made on the site from an image is adopted here).

use super::records::{SNAPSHOT, VOLUME};
use super::sync::top_volume_id;
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn nova(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

fn mappings(raw: &mut Map<String, Value>) -> impl Iterator<Item = &mut Value> {
    raw.get_mut("block_device_mapping_v2")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// The image of the root mapping (`source_type: image`, boot index 0) of a server created
/// without `imageRef` (e.g. `--boot-from-volume SIZE --image X`).
pub fn bdm_image(raw: &Map<String, Value>) -> Option<String> {
    raw.get("block_device_mapping_v2")?
        .as_array()?
        .iter()
        .find(|d| {
            d["source_type"] == "image" && d.get("boot_index").is_some_and(|i| i == 0 || i == "0")
        })
        .and_then(|d| d["uuid"].as_str())
        .map(String::from)
}

/// Pins a server whose mappings name top volumes or snapshots to their site and writes the
/// site's IDs into the mappings. Records on several sites, or on another site than the
/// requested zone's, are refused with a 400 naming the sites.
pub async fn pin_to_volumes(
    c: &Caller,
    raw: &mut Map<String, Value>,
    zone_site: Option<Arc<SiteHandle>>,
) -> Result<Option<Arc<SiteHandle>>, ApiError> {
    let mut pinned: Option<(Arc<SiteHandle>, String)> = None;
    for d in mappings(raw) {
        let k = match d["source_type"].as_str() {
            Some("volume") => &VOLUME,
            Some("snapshot") => &SNAPSHOT,
            _ => continue,
        };
        let Some(id) = d["uuid"].as_str().map(String::from) else {
            continue;
        };
        let not_found = |i: &str| {
            nova(
                StatusCode::BAD_REQUEST,
                format!(
                    "Block Device Mapping is Invalid: failed to get {} {i}.",
                    k.key
                ),
            )
        };
        let route = match super::owned_route(c, k.kind, &id, not_found).await {
            Ok(r) => r,
            // Under a volume scope, a site's own volume is the scope's to check (it must be on
            // the server's site) and is used as it is.
            Err(_) if c.scope_for(Service::Volume).is_some() => continue,
            Err(e) => return Err(e),
        };
        let site = route
            .site_id
            .as_deref()
            .and_then(|s| c.top.sites.get(s))
            .ok_or_else(|| not_found(&id))?;
        let what = format!("{} {id}", k.key);
        let other = pinned
            .as_ref()
            .map(|(s, w)| (s.clone(), w.clone()))
            .or_else(|| {
                zone_site
                    .clone()
                    .map(|z| (z, "the requested availability zone".into()))
            });
        if let Some((o, owhat)) = other.filter(|(o, _)| o.id() != site.id()) {
            return Err(nova(
                StatusCode::BAD_REQUEST,
                format!(
                    "Block Device Mapping is Invalid: {what} is on site {} (availability zone {}) but {owhat} is on site {} (availability zone {}); a server and its volumes must be on one site.",
                    site.name(),
                    site.record.az,
                    o.name(),
                    o.record.az
                ),
            ));
        }
        d["uuid"] = json!(route.site_resource_id.unwrap_or_default());
        pinned.get_or_insert((site, what));
    }
    match pinned {
        Some((site, _)) if !site.is_up() => Err(crate::compute::site_down(&site)),
        Some((site, _)) => Ok(Some(site)),
        None => Ok(zone_site),
    }
}

/// The site's volume IDs a server document shows attached become top IDs.
pub async fn server_volumes(top: &Top, site: &SiteHandle, server: &mut Value) {
    let Some(attached) = server
        .get_mut("os-extended-volumes:volumes_attached")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for a in attached.iter_mut() {
        if let Some(site_volume) = a["id"].as_str().map(String::from) {
            if let Some(top_volume) = top_volume_id(top, site, &site_volume).await {
                a["id"] = json!(top_volume);
            }
        }
    }
}
