//! The server's ports on the destination, with the same fixed IPs and MACs as on the source.
//!
//! Today each site has its own IPAM and servers use the site's network of the same name
//! (`private`), so the port is recreated there with `fixed_ips` and `mac_address`. When the
//! top owns ports (central IPAM), only [`recreate`] and [`remove`] change: they then move the
//! top's port to the destination.

use super::site::{self, site_failure};
use super::source::Nic;
use crate::sites::SiteHandle;
use fedstack_jobs::StepError;
use fedstack_site_client::{Scope, SiteRequest};
use reqwest::Method;
use serde_json::{json, Value};

/// The name of a port the migration makes: found again by name after a crash.
pub fn port_name(job_id: &str, index: usize) -> String {
    format!("fedstack-migration-{job_id}-{index}")
}

/// Makes (or finds) the destination port of each NIC, in order: their IDs.
pub async fn recreate(
    dest: &SiteHandle,
    project: &str,
    job_id: &str,
    nics: &[Nic],
) -> Result<Vec<String>, StepError> {
    let scope = Scope::Project(project.to_string());
    let mut ids = Vec::new();
    for (i, nic) in nics.iter().enumerate() {
        let name = port_name(job_id, i);
        if let Some(p) = find(dest, &scope, &name).await? {
            ids.push(p);
            continue;
        }
        let network = network_id(dest, &scope, &nic.network).await?;
        // Setting a MAC is an admin's (or network owner's) right in Neutron's policy: the
        // service account makes the port in the tenant's project.
        let body = json!({"port": {
            "name": name,
            "project_id": project,
            "network_id": network,
            "fixed_ips": [{"ip_address": nic.ip}],
            "mac_address": nic.mac,
        }});
        let r = site::send(
            dest,
            SiteRequest::new(Method::POST, "network", "/v2.0/ports", Scope::Admin).json(&body),
        )
        .await?;
        if r.status.is_client_error() {
            let why = r.json()["NeutronError"]["message"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{}", r.status));
            return Err(StepError::Fatal(format!(
                "site {} cannot take fixed IP {} and MAC {} on network {}: {why}",
                dest.name(),
                nic.ip,
                nic.mac,
                nic.network
            )));
        }
        let port = r.ok().map_err(|e| site_failure(dest, e))?.json();
        ids.push(port["port"]["id"].as_str().unwrap_or_default().to_string());
    }
    Ok(ids)
}

/// Deletes the ports [`recreate`] made (by name, so that one made just before a crash goes
/// too).
pub async fn remove(
    dest: &SiteHandle,
    project: &str,
    job_id: &str,
    count: usize,
) -> Result<(), StepError> {
    let scope = Scope::Project(project.to_string());
    for i in 0..count {
        if let Some(id) = find(dest, &scope, &port_name(job_id, i)).await? {
            let r = site::send(
                dest,
                SiteRequest::new(
                    Method::DELETE,
                    "network",
                    format!("/v2.0/ports/{id}"),
                    scope.clone(),
                ),
            )
            .await?;
            if r.status.as_u16() != 404 {
                r.ok().map_err(|e| site_failure(dest, e))?;
            }
        }
    }
    Ok(())
}

/// The server a port is bound to, if any.
pub async fn bound_server(
    dest: &SiteHandle,
    project: &str,
    port_id: &str,
) -> Result<Option<String>, StepError> {
    let r = site::send(
        dest,
        SiteRequest::new(
            Method::GET,
            "network",
            format!("/v2.0/ports/{port_id}"),
            Scope::Project(project.to_string()),
        ),
    )
    .await?;
    if r.status.as_u16() == 404 {
        return Ok(None);
    }
    let p = r.ok().map_err(|e| site_failure(dest, e))?.json();
    Ok(p["port"]["device_id"]
        .as_str()
        .filter(|d| !d.is_empty())
        .map(String::from))
}

async fn find(dest: &SiteHandle, scope: &Scope, name: &str) -> Result<Option<String>, StepError> {
    let list = site::call(
        dest,
        SiteRequest::new(
            Method::GET,
            "network",
            format!("/v2.0/ports?name={name}"),
            scope.clone(),
        ),
    )
    .await?;
    Ok(first_id(&list["ports"]))
}

/// The destination's network called `name`, as the tenant sees it.
pub async fn network_id(dest: &SiteHandle, scope: &Scope, name: &str) -> Result<String, StepError> {
    let q: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let list = site::call(
        dest,
        SiteRequest::new(
            Method::GET,
            "network",
            format!("/v2.0/networks?name={q}"),
            scope.clone(),
        ),
    )
    .await?;
    first_id(&list["networks"]).ok_or_else(|| {
        StepError::Fatal(format!("site {} has no network named {name}", dest.name()))
    })
}

fn first_id(list: &Value) -> Option<String> {
    list.as_array()?
        .first()?
        .get("id")?
        .as_str()
        .map(String::from)
}
