//! The service catalog a site's tokens carry.

use crate::site::Site;
use fedstack_api_types::keystone::{self as ks, CatalogEntry};
use fedstack_api_types::Service;
use serde_json::Value;

/// The catalog of a site: one service per API, public/internal/admin endpoints on 127.0.0.1.
pub fn catalog(site: &Site) -> Value {
    let entry = |ty: &str, name: &str, url: String| CatalogEntry {
        service_type: ty.into(),
        name: name.into(),
        url,
    };
    let entries = [
        entry("identity", "keystone", site.auth_url()),
        entry(
            "compute",
            "nova",
            format!("{}/v2.1", site.service_root(Service::Compute)),
        ),
        entry("image", "glance", site.service_root(Service::Image)),
        entry(
            "block-storage",
            "cinder",
            format!("{}/v3", site.service_root(Service::Volume)),
        ),
        entry("network", "neutron", site.service_root(Service::Network)),
    ];
    ks::catalog(&site.name, &site.region, &entries)
}

/// `/v3/services`: the catalog's services without endpoints.
pub fn services(site: &Site) -> Vec<Value> {
    ks::services(&site.auth_url(), &catalog(site))
}

/// `/v3/endpoints`: every endpoint with its service ID.
pub fn endpoints(site: &Site) -> Vec<Value> {
    ks::endpoints(&site.auth_url(), &catalog(site))
}
