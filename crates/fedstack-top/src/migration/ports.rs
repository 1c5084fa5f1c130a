//! The server's ports on the destination, with the same fixed IPs and MACs as on the source.
//!
//! A NIC on a top network (central IPAM) keeps its top port: the port gets a piece on the
//! destination (network, subnets and security groups made there as for a new server), the
//! source piece goes at cleanup. A NIC on a site-local network is recreated on the
//! destination's network of the same name with `fixed_ips` and `mac_address`.

use super::site::{self, api_failure, db, site_failure};
use super::source::Nic;
use crate::network::ports::make_on_site;
use crate::network::remote_groups;
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_jobs::StepError;
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::networks::{net_kind, NetResource};
use reqwest::Method;
use serde_json::{json, Value};

/// How the names of the ports migrations make begin.
pub const PORT_PREFIX: &str = "fedstack-migration-";

/// The name of a port the migration makes: found again by name after a crash.
pub fn port_name(job_id: &str, index: usize) -> String {
    format!("{PORT_PREFIX}{job_id}-{index}")
}

/// The top ports bound to server `server_id`.
pub async fn top_ports(top: &Top, server_id: &str) -> Result<Vec<NetResource>, StepError> {
    let all = top
        .store
        .net_resources(net_kind::PORT, None, None)
        .await
        .map_err(db)?;
    Ok(all
        .into_iter()
        .filter(|p| p.body["device_id"] == server_id)
        .collect())
}

/// Marks each NIC whose MAC is a top port's with that port.
pub fn link_top_ports(nics: &mut [Nic], ports: &[NetResource]) {
    for nic in nics {
        nic.top_port = ports
            .iter()
            .find(|p| p.body["mac_address"].as_str() == Some(nic.mac.as_str()))
            .map(|p| p.id.clone());
    }
}

/// What the destination needs of a top port: its network and security groups still at the
/// top (the destination makes their pieces when the port needs them).
pub async fn check_top_port(top: &Top, port_id: &str) -> Result<(), StepError> {
    let port = top_port(top, port_id).await?;
    let net = port.parent_id.as_deref().unwrap_or_default();
    if top
        .store
        .net_resource(net_kind::NETWORK, net)
        .await
        .map_err(db)?
        .is_none()
    {
        return Err(StepError::Fatal(format!(
            "network {net} of port {port_id} no longer exists at the top"
        )));
    }
    for g in port.body["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if top
            .store
            .net_resource(net_kind::SECURITY_GROUP, g)
            .await
            .map_err(db)?
            .is_none()
        {
            return Err(StepError::Fatal(format!(
                "security group {g} of port {port_id} no longer exists at the top"
            )));
        }
    }
    Ok(())
}

async fn top_port(top: &Top, id: &str) -> Result<NetResource, StepError> {
    top.store
        .net_resource(net_kind::PORT, id)
        .await
        .map_err(db)?
        .ok_or_else(|| StepError::Fatal(format!("port {id} no longer exists at the top")))
}

/// Makes (or finds) the destination port of each NIC, in order: their IDs.
pub async fn recreate(
    top: &Top,
    dest: &SiteHandle,
    project: &str,
    job_id: &str,
    nics: &[Nic],
) -> Result<Vec<String>, StepError> {
    let scope = Scope::Project(project.to_string());
    let mut ids = Vec::new();
    for (i, nic) in nics.iter().enumerate() {
        if let Some(port_id) = &nic.top_port {
            let port = top_port(top, port_id).await?;
            let id = make_on_site(top, dest, project, &port)
                .await
                .map_err(api_failure)?;
            ids.push(id);
            continue;
        }
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

/// Deletes the ports [`recreate`] made on `site`: the site pieces of top ports, the others
/// by name (so that one made just before a crash goes too).
pub async fn remove(
    top: &Top,
    site: &SiteHandle,
    project: &str,
    job_id: &str,
    nics: &[Nic],
) -> Result<(), StepError> {
    let scope = Scope::Project(project.to_string());
    for (i, nic) in nics.iter().enumerate() {
        if let Some(port_id) = &nic.top_port {
            remove_piece(top, site, port_id).await?;
        } else if let Some(id) = find(site, &scope, &port_name(job_id, i)).await? {
            delete_site_port(site, &id).await?;
        }
    }
    Ok(())
}

/// Deletes the piece of top port `port_id` on `site` (the site port, then its record).
pub async fn remove_piece(top: &Top, site: &SiteHandle, port_id: &str) -> Result<(), StepError> {
    let piece = top
        .store
        .piece(net_kind::PORT, port_id, site.id())
        .await
        .map_err(db)?;
    let Some(piece) = piece else {
        return Ok(());
    };
    if let Some(id) = &piece.site_resource_id {
        delete_site_port(site, id).await?;
    }
    top.store
        .delete_piece(net_kind::PORT, port_id, site.id())
        .await
        .map_err(db)
}

/// Once the top ports left the source: the rules naming one of their security groups as a
/// remote group follow (their members now live on the destination: admitted natively there,
/// by address on the other sites).
pub async fn moved(top: &Top, nics: &[Nic]) -> Result<(), StepError> {
    let mut groups = Vec::new();
    for id in nics.iter().filter_map(|n| n.top_port.as_ref()) {
        if let Some(p) = top
            .store
            .net_resource(net_kind::PORT, id)
            .await
            .map_err(db)?
        {
            groups.extend(remote_groups::groups_of(&p.body));
        }
    }
    groups.sort();
    groups.dedup();
    remote_groups::members_changed(top, &groups).await;
    Ok(())
}

/// The site ports bound to `server` on `site` (their documents).
pub async fn bound_ports(site: &SiteHandle, server: &str) -> Result<Vec<Value>, SiteError> {
    let req = SiteRequest::new(
        Method::GET,
        "network",
        format!("/v2.0/ports?device_id={server}"),
        Scope::Admin,
    );
    let list = site.client.json(req).await?;
    Ok(list["ports"].as_array().cloned().unwrap_or_default())
}

/// The IDs of the site ports bound to `server` on `site` (Nova keeps the ports it was given
/// when the server goes, so a port the migration made would outlive it).
pub async fn bound_to(site: &SiteHandle, server: &str) -> Result<Vec<String>, StepError> {
    Ok(bound_ports(site, server)
        .await
        .map_err(|e| site_failure(site, e))?
        .iter()
        .filter_map(|p| p["id"].as_str().map(String::from))
        .collect())
}

/// Deletes site ports (gone already is fine).
pub async fn delete_site_ports(site: &SiteHandle, ids: &[String]) -> Result<(), StepError> {
    for id in ids {
        delete_site_port(site, id).await?;
    }
    Ok(())
}

/// Deletes a site port (gone already is fine).
async fn delete_site_port(site: &SiteHandle, id: &str) -> Result<(), StepError> {
    let r = site::send(
        site,
        SiteRequest::new(
            Method::DELETE,
            "network",
            format!("/v2.0/ports/{id}"),
            Scope::Admin,
        ),
    )
    .await?;
    if r.status.as_u16() != 404 {
        r.ok().map_err(|e| site_failure(site, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(mac: &str) -> Nic {
        Nic {
            network: "n".into(),
            ip: "10.0.0.5".into(),
            mac: mac.into(),
            top_port: None,
        }
    }

    fn port(id: &str, mac: &str) -> NetResource {
        NetResource {
            kind: net_kind::PORT.into(),
            id: id.into(),
            project_id: "p".into(),
            parent_id: Some("net".into()),
            name: String::new(),
            body: json!({"id": id, "mac_address": mac}),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn nics_on_top_networks_are_linked_to_their_top_port_by_mac() {
        let mut nics = [nic("fa:16:3e:00:00:01"), nic("fa:16:3e:00:00:02")];
        link_top_ports(&mut nics, &[port("tp2", "fa:16:3e:00:00:02")]);
        assert_eq!(
            nics[0].top_port, None,
            "a site-local NIC keeps today's path"
        );
        assert_eq!(nics[1].top_port.as_deref(), Some("tp2"));
    }
}
