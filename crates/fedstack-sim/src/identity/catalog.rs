//! The service catalog a site's tokens carry.

use crate::site::Site;
use fedstack_api_types::Service;
use md5::{Digest, Md5};
use serde_json::{json, Value};

/// A stable ID for a catalog item, derived from the site and what it names.
fn stable_id(site: &Site, what: &str) -> String {
    hex::encode(Md5::digest(format!("{}/{what}", site.name)))
}

/// The catalog of a site: one service per API, public/internal/admin endpoints on 127.0.0.1.
pub fn catalog(site: &Site) -> Value {
    let services = [
        (
            Service::Identity,
            "identity",
            "keystone",
            format!("{}/v3", site.service_root(Service::Identity)),
        ),
        (
            Service::Compute,
            "compute",
            "nova",
            format!("{}/v2.1", site.service_root(Service::Compute)),
        ),
        (
            Service::Image,
            "image",
            "glance",
            site.service_root(Service::Image),
        ),
        (
            Service::Volume,
            "block-storage",
            "cinder",
            format!("{}/v3", site.service_root(Service::Volume)),
        ),
        (
            Service::Network,
            "network",
            "neutron",
            site.service_root(Service::Network),
        ),
    ];
    Value::Array(
        services
            .into_iter()
            .map(|(_, ty, name, url)| {
                let endpoints: Vec<Value> = ["public", "internal", "admin"]
                    .into_iter()
                    .map(|iface| {
                        json!({
                            "id": stable_id(site, &format!("{ty}/{iface}")),
                            "interface": iface,
                            "region_id": site.region,
                            "url": url,
                            "region": site.region,
                        })
                    })
                    .collect();
                json!({
                    "endpoints": endpoints,
                    "id": stable_id(site, ty),
                    "type": ty,
                    "name": name,
                })
            })
            .collect(),
    )
}

/// `/v3/services`: the catalog's services without endpoints.
pub fn services(site: &Site) -> Vec<Value> {
    let base = site.auth_url();
    catalog_items(site)
        .map(|s| {
            json!({
                "id": s["id"], "type": s["type"], "name": s["name"], "enabled": true,
                "links": {"self": format!("{base}/services/{}", s["id"].as_str().unwrap_or(""))},
            })
        })
        .collect()
}

/// `/v3/endpoints`: every endpoint with its service ID.
pub fn endpoints(site: &Site) -> Vec<Value> {
    let base = site.auth_url();
    catalog_items(site)
        .flat_map(|s| {
            let sid = s["id"].clone();
            let base = base.clone();
            s["endpoints"].as_array().cloned().unwrap_or_default().into_iter().map(move |e| {
                json!({
                    "id": e["id"], "interface": e["interface"], "region_id": e["region_id"],
                    "region": e["region"], "url": e["url"], "service_id": sid, "enabled": true,
                    "links": {"self": format!("{base}/endpoints/{}", e["id"].as_str().unwrap_or(""))},
                })
            })
        })
        .collect()
}

fn catalog_items(site: &Site) -> impl Iterator<Item = Value> {
    match catalog(site) {
        Value::Array(items) => items.into_iter(),
        _ => Vec::new().into_iter(),
    }
}
