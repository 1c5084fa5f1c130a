//! Endpoint lookup in a Keystone catalog.

use crate::SiteError;
use serde_json::Value;
use std::collections::HashMap;

/// The endpoints of one region and interface, by service type.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    endpoints: HashMap<String, String>,
}

/// Service types that name the same API (os-service-types aliases); other types stand for
/// themselves.
fn aliases(service: &str) -> Vec<&str> {
    match service {
        "block-storage" => vec!["block-storage", "volumev3", "volume", "block-store"],
        other => vec![other],
    }
}

impl Catalog {
    /// Reads the `catalog` of a token body, keeping `interface` endpoints of `region`.
    pub fn from_token(token: &Value, region: Option<&str>, interface: &str) -> Self {
        let mut endpoints = HashMap::new();
        for svc in token["catalog"].as_array().into_iter().flatten() {
            let Some(ty) = svc["type"].as_str() else {
                continue;
            };
            let found = svc["endpoints"].as_array().into_iter().flatten().find(|e| {
                e["interface"].as_str() == Some(interface)
                    && region.is_none_or(|r| {
                        e["region_id"].as_str() == Some(r) || e["region"].as_str() == Some(r)
                    })
            });
            if let Some(url) = found.and_then(|e| e["url"].as_str()) {
                endpoints.insert(ty.to_string(), url.to_string());
            }
        }
        Catalog { endpoints }
    }

    /// The endpoint URL of a service, with a `%(project_id)s` / `$(project_id)s` template filled.
    pub fn endpoint(&self, service: &str, project_id: Option<&str>) -> Result<String, SiteError> {
        let url = aliases(service)
            .into_iter()
            .find_map(|t| self.endpoints.get(t))
            .ok_or_else(|| SiteError::NoEndpoint(service.to_string()))?;
        let p = project_id.unwrap_or("");
        Ok(url
            .replace("%(project_id)s", p)
            .replace("$(project_id)s", p)
            .replace("%(tenant_id)s", p))
    }

    /// Service types present.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.endpoints.keys().map(String::as_str)
    }
}
