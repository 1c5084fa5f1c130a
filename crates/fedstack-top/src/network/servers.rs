//! Servers on top networks: what compute's server create and delete call. A server's
//! `networks` naming top networks or top ports become site ports made with the top's
//! addresses (`{"port": <site port>}` in the body sent to the site).

use super::ports::{self, NewPort};
use super::{groups, networks, store_err};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::networks::{net_kind, NetResource};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// The top ports plugged for one server create.
#[derive(Debug, Default)]
pub struct Plugged {
    /// Ports the top made for the server (deleted if the server is not made).
    made: Vec<NetResource>,
    /// Existing ports bound to the server (unbound if the server is not made).
    bound: Vec<NetResource>,
}

/// A network error in Nova's envelope (server create is a compute request).
fn nova(e: ApiError) -> ApiError {
    ApiError::new(Service::Compute, e.status, e.message)
}

fn nova_err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// Top networks a server of the caller can be plugged into without naming one.
async fn candidate_networks(c: &Caller) -> Result<Vec<NetResource>, ApiError> {
    let all = c
        .top
        .store
        .net_resources(net_kind::NETWORK, None, None)
        .await
        .map_err(|e| nova(store_err(e)))?;
    Ok(all
        .into_iter()
        .filter(|n| n.body["router:external"] != true)
        .filter(|n| n.project_id == c.project_id() || n.body["shared"] == true)
        .collect())
}

/// Rewrites `server.networks` for `site`: top networks and ports become site ports with the
/// top's addresses. `auto` means the project's one top network (409 when there are several,
/// as Nova says; the site's own default when the project has none); `none` and site-level
/// requests are left as they are.
pub async fn plug(
    c: &Caller,
    site: &SiteHandle,
    site_project: &str,
    server_id: &str,
    server: &mut Value,
) -> Result<Plugged, ApiError> {
    let mut plugged = Plugged::default();
    let requests =
        match server.get("networks") {
            Some(Value::String(s)) if s == "auto" => {
                let nets = candidate_networks(c).await?;
                match nets.as_slice() {
                    [] => return Ok(plugged),
                    [one] => vec![json!({"uuid": one.id})],
                    _ => return Err(nova_err(
                        StatusCode::CONFLICT,
                        "Multiple possible networks found, use a Network ID to be more specific.",
                    )),
                }
            }
            Some(Value::Array(items)) => items.clone(),
            _ => return Ok(plugged),
        };
    let groups = match server.get("security_groups").and_then(Value::as_array) {
        Some(list) => {
            let names: Vec<Value> = list.iter().filter_map(|g| g.get("name").cloned()).collect();
            Some(
                groups::resolve(c, c.project_id(), &json!(names))
                    .await
                    .map_err(nova)?,
            )
        }
        None => None,
    };
    let mut site_nics = vec![];
    for req in &requests {
        match plug_one(c, site, site_project, server_id, req, &groups, &mut plugged).await {
            Ok(nic) => site_nics.push(nic),
            Err(e) => {
                plugged.release(&c.top).await;
                return Err(e);
            }
        }
    }
    if let Some(s) = server.as_object_mut() {
        s.insert("networks".into(), json!(site_nics));
        s.remove("security_groups");
    }
    Ok(plugged)
}

/// Plugs one `networks` entry of a server on `site` (a top network or port; the site port
/// made with the top's addresses): the site's NIC request, `{"port": <site port>}`.
pub(super) async fn plug_one(
    c: &Caller,
    site: &SiteHandle,
    site_project: &str,
    server_id: &str,
    req: &Value,
    groups: &Option<Vec<String>>,
    plugged: &mut Plugged,
) -> Result<Value, ApiError> {
    let top = &c.top;
    let mut port = if let Some(port_id) = req.get("port").and_then(Value::as_str) {
        let p = top
            .store
            .net_resource(net_kind::PORT, port_id)
            .await
            .map_err(|e| nova(store_err(e)))?
            .filter(|p| c.is_admin() || p.project_id == c.project_id())
            .ok_or_else(|| {
                nova_err(
                    StatusCode::BAD_REQUEST,
                    format!("Port {port_id} could not be found."),
                )
            })?;
        if p.body["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
            return Err(nova_err(
                StatusCode::CONFLICT,
                format!("Port {port_id} is still in use."),
            ));
        }
        if p.body["fixed_ips"].as_array().is_none_or(Vec::is_empty) {
            return Err(nova_err(
                StatusCode::BAD_REQUEST,
                format!("Port {port_id} requires a FixedIP in order to be used."),
            ));
        }
        plugged.bound.push(p.clone());
        p
    } else {
        let net_id = req.get("uuid").and_then(Value::as_str).unwrap_or_default();
        let network = match networks::visible(c, net_id).await {
            Ok(n) => n,
            // Under a network scope, a site's own network is used as it is: the scope check
            // has found it on this very site.
            Err(_) if c.scope_for(Service::Network).is_some() => return Ok(req.clone()),
            Err(_) => {
                return Err(nova_err(
                    StatusCode::BAD_REQUEST,
                    format!("Network {net_id} could not be found."),
                ))
            }
        };
        if network.body["router:external"] == true
            && !c.is_admin()
            && network.project_id != c.project_id()
        {
            return Err(nova_err(
                StatusCode::FORBIDDEN,
                format!("It is not allowed to create an interface on external network {net_id}"),
            ));
        }
        let fixed_ip = match req.get("fixed_ip").and_then(Value::as_str) {
            Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| {
                nova_err(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid fixed IP address ({ip})"),
                )
            })?),
            None => None,
        };
        let new = NewPort {
            project_id: c.project_id().to_string(),
            network,
            attrs: Map::new(),
            fixed_ips: fixed_ip.map(|ip| vec![(None, Some(ip))]),
            mac: None,
            security_groups: groups.clone(),
            for_server: true,
        };
        let p = match ports::create_port(top, new).await {
            Ok(p) => p,
            Err(e) => {
                return Err(match (e.status, fixed_ip) {
                    (StatusCode::CONFLICT, Some(ip))
                        if e.kind.as_deref() == Some("IpAddressAlreadyAllocated") =>
                    {
                        let device = holder(top, net_id, &ip.to_string()).await;
                        nova_err(
                            StatusCode::BAD_REQUEST,
                            format!(
                                "Fixed IP address {ip} is already in use on instance {device}."
                            ),
                        )
                    }
                    (StatusCode::BAD_REQUEST, Some(ip)) => nova_err(
                        StatusCode::BAD_REQUEST,
                        format!("Fixed IP address ({ip}) does not exist in network."),
                    ),
                    _ => nova(e),
                })
            }
        };
        plugged.made.push(p.clone());
        p
    };
    let site_port = ports::ensure_on_site(top, site, site_project, &port)
        .await
        .map_err(nova)?;
    let changes: Map<String, Value> = [
        ("device_id".to_string(), json!(server_id)),
        (
            "device_owner".to_string(),
            json!(format!("compute:{}", site.record.az)),
        ),
        ("status".to_string(), json!("ACTIVE")),
    ]
    .into_iter()
    .collect();
    super::doc::apply(&mut port, &changes);
    top.store
        .update_net_resource(&port)
        .await
        .map_err(|e| nova(store_err(e)))?;
    let mut nic = json!({"port": site_port});
    if let Some(tag) = req.get("tag") {
        nic["tag"] = tag.clone();
    }
    Ok(nic)
}

/// The device holding an address of a top network, for Nova's message ("" when none).
async fn holder(top: &Top, network_id: &str, ip: &str) -> String {
    let ports = top
        .store
        .net_resources(net_kind::PORT, None, Some(network_id))
        .await
        .unwrap_or_default();
    ports
        .iter()
        .find(|p| {
            p.body["fixed_ips"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["ip_address"] == ip))
        })
        .and_then(|p| p.body["device_id"].as_str())
        .unwrap_or_default()
        .to_string()
}

impl Plugged {
    /// Undoes a plug whose server was not made: ports made for it are deleted, bound ones
    /// freed.
    pub async fn release(self, top: &Top) {
        for p in &self.made {
            if let Err(e) = ports::delete_port(top, p).await {
                tracing::warn!(port = %p.id, error = %e.message, "port made for a failed server not deleted");
            }
        }
        for p in self.bound {
            unbind(top, &p.id).await;
        }
    }
}

async fn unbind(top: &Top, port_id: &str) {
    if let Ok(Some(mut p)) = top.store.net_resource(net_kind::PORT, port_id).await {
        let changes: Map<String, Value> = [
            ("device_id", json!("")),
            ("device_owner", json!("")),
            ("status", json!("DOWN")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        super::doc::apply(&mut p, &changes);
        let _ = top.store.update_net_resource(&p).await;
    }
}

/// A top port detached from its server: deleted when the top made it for the server, else
/// unbound.
pub(super) async fn release_port(top: &Top, p: &NetResource) {
    if ports::created_for_server(p) {
        if let Err(e) = ports::delete_port(top, p).await {
            tracing::warn!(port = %p.id, error = %e.message, "port of a server not deleted");
        }
    } else {
        unbind(top, &p.id).await;
    }
}

/// After a server is deleted: the ports the top made for it are deleted (as Nova deletes
/// the ports it made), the others unbound.
pub async fn unplug(top: &Top, server_id: &str) {
    let ports = top
        .store
        .net_resources(net_kind::PORT, None, None)
        .await
        .unwrap_or_default();
    for p in ports.iter().filter(|p| p.body["device_id"] == server_id) {
        release_port(top, p).await;
    }
}
