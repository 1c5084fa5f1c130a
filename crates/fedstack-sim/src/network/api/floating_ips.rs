//! `/v2.0/floatingips`: an address on an external network, associated with a port that a
//! router with a gateway on that network reaches.

use super::body::Attrs;
use super::query::ListQuery;
use super::{
    collection_url, created, networks, no_content, ok, policy_denied, ports, shown, Caller, Pairs,
    Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{FloatingIp, Resource, Std};
use crate::network::ops::{
    neutron_error, over_quota, IpRequest, NewPort, OWNER_FLOATINGIP, OWNER_ROUTER_INTERFACE,
};
use crate::network::{new_id, NetworkData};
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use serde_json::{json, Value};
use std::net::IpAddr;

/// Every attribute of a floating IP.
pub const ATTRS: &[&str] = &[
    "id",
    "tenant_id",
    "project_id",
    "floating_ip_address",
    "floating_network_id",
    "router_id",
    "port_id",
    "fixed_ip_address",
    "status",
    "description",
    "port_details",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "subnet_id",
];

const POST: &[&str] = &[
    "tenant_id",
    "project_id",
    "floating_ip_address",
    "floating_network_id",
    "port_id",
    "fixed_ip_address",
    "description",
    "tags",
    "subnet_id",
];

const PUT: &[&str] = &["port_id", "fixed_ip_address", "description"];

fn bad_fip(msg: impl std::fmt::Display) -> ApiError {
    neutron_error(400, "BadRequest", format!("Bad floatingip request: {msg}."))
}

/// A floating IP as shown, with `port_details` of its port.
fn view(d: &NetworkData, f: &FloatingIp) -> Value {
    let port = f.port_id.as_ref().and_then(|p| d.ports.get(p.as_str()));
    let details = port.map(|p| {
        json!({"name": p.name, "network_id": p.network_id, "mac_address": p.mac_string(),
            "admin_state_up": p.admin_state_up, "status": p.status(),
            "device_id": p.device_id, "device_owner": p.device_owner})
    });
    let status = if port.is_some_and(|p| p.status() == "ACTIVE") {
        "ACTIVE"
    } else {
        "DOWN"
    };
    json!({
        "id": f.id, "tenant_id": f.project_id, "project_id": f.project_id,
        "floating_ip_address": f.address.to_string(), "floating_network_id": f.network_id,
        "router_id": f.router_id, "port_id": f.port_id,
        "fixed_ip_address": f.fixed_ip.map(|ip| ip.to_string()), "status": status,
        "description": f.std.description, "port_details": details, "tags": f.std.tags,
        "created_at": time::iso_z(f.std.created_at), "updated_at": time::iso_z(f.std.updated_at),
        "revision_number": f.std.revision,
    })
}

fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

/// A floating IP the caller may see (its not-found error otherwise).
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a FloatingIp, ApiError> {
    d.floating_ips
        .get(id)
        .filter(|f| c.owns(&f.project_id))
        .ok_or_else(|| not_found(id))
}

/// Where a floating IP goes: (port, fixed IP, router).
struct Target {
    port_id: String,
    fixed_ip: IpAddr,
    router_id: String,
}

/// Checks that `port_id` can take a floating IP of `network_id` and finds the router.
fn target(
    d: &NetworkData,
    c: &Caller,
    fip_id: &str,
    network_id: &str,
    port_id: &str,
    fixed: Option<IpAddr>,
) -> Result<Target, ApiError> {
    let port = ports::find(d, c, port_id)?;
    let v4: Vec<_> = port.fixed_ips.iter().filter(|f| f.ip.is_ipv4()).collect();
    let chosen = match fixed {
        Some(ip) => port
            .fixed_ips
            .iter()
            .find(|f| f.ip == ip)
            .ok_or_else(|| bad_fip(format!("Port {port_id} does not have fixed ip {ip}")))?,
        None => match v4.as_slice() {
            [one] => *one,
            [] => return Err(bad_fip(format!("Port {port_id} does not have any fixed IPv4 address"))),
            _ => return Err(bad_fip(format!("Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP"))),
        },
    };
    if let Some(other) = d.floating_ips.values().find(|f| {
        f.id != fip_id
            && f.network_id == network_id
            && f.port_id.as_deref() == Some(port_id)
            && f.fixed_ip == Some(chosen.ip)
    }) {
        return Err(neutron_error(
            409,
            "FloatingIPPortAlreadyAssociated",
            format!("Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {network_id}.", other.address, other.id, chosen.ip),
        ));
    }
    let router_id = router_for(d, network_id, &chosen.subnet_id).ok_or_else(|| {
        neutron_error(
            404,
            "ExternalGatewayForFloatingIPNotFound",
            format!("External network {network_id} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.", chosen.subnet_id),
        )
    })?;
    Ok(Target {
        port_id: port_id.to_string(),
        fixed_ip: chosen.ip,
        router_id,
    })
}

/// A router with a gateway on `network_id` and an interface on `subnet_id`.
fn router_for(d: &NetworkData, network_id: &str, subnet_id: &str) -> Option<String> {
    d.routers
        .values()
        .filter(|r| {
            r.gateway
                .as_ref()
                .is_some_and(|g| g.network_id == network_id)
        })
        .find(|r| {
            d.ports_by_device
                .get(r.id.as_str())
                .into_iter()
                .flatten()
                .filter_map(|p| d.ports.get(p))
                .any(|p| {
                    p.device_owner == OWNER_ROUTER_INTERFACE
                        && p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id)
                })
        })
        .map(|r| r.id.clone())
}

/// Associates (`Some`) or disassociates a floating IP, keeping the by-port index.
fn associate(d: &mut NetworkData, fip_id: &str, to: Option<Target>) {
    let Some(f) = d.floating_ips.get_mut(fip_id) else {
        return;
    };
    let old = f.port_id.take();
    match to {
        Some(t) => {
            f.port_id = Some(t.port_id.clone());
            f.fixed_ip = Some(t.fixed_ip);
            f.router_id = Some(t.router_id);
            d.fips_by_port
                .entry(t.port_id)
                .or_default()
                .push(fip_id.to_string());
        }
        None => {
            f.fixed_ip = None;
            f.router_id = None;
        }
    }
    if let Some(old) = old {
        if let Some(list) = d.fips_by_port.get_mut(&old) {
            list.retain(|x| x != fip_id);
            if list.is_empty() {
                d.fips_by_port.remove(&old);
            }
        }
    }
}

/// `GET /v2.0/floatingips`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "floatingips");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let body = q.answer("floatingips", &url, d.floating_ips.keys(), |id| {
        find(d, &c, id).ok().map(|f| view(d, f))
    });
    Ok(ok(body))
}

/// `GET /v2.0/floatingips/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let d = &g.network;
    let f = find(d, &c, &id)?;
    Ok(shown("floatingip", view(d, f), &pairs))
}

/// `POST /v2.0/floatingips`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "floatingip")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_floatingip")?;
    if a.has("floating_ip_address") {
        c.require_admin_attr("create_floatingip", "floating_ip_address")?;
    }
    let network_id = a.string("floating_network_id")?.ok_or_else(|| {
        super::bad_request(
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
        )
    })?;
    let project = c.target_project(&a)?;
    let address = a.ip("floating_ip_address")?.flatten();
    let subnet_id = a.string("subnet_id")?;
    let port_id = a.nullable_string("port_id")?.flatten();
    let fixed = a.ip("fixed_ip_address")?.flatten();
    let mut std = Std::new(0, a.string("description")?.unwrap_or_default());
    std.tags = a.strings("tags")?.unwrap_or_default();
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let net = networks::find(d, &c, &network_id)?;
    if !net.external {
        return Err(bad_fip(format!(
            "Network {network_id} is not a valid external network"
        )));
    }
    if !d.has_room(&project, Resource::Floatingip, 1) {
        return Err(over_quota(Resource::Floatingip));
    }
    let id = new_id();
    let to = port_id
        .map(|p| target(d, &c, &id, &network_id, &p, fixed))
        .transpose()?;
    let mut p = NewPort::new("", &network_id);
    p.device_id = id.clone();
    p.device_owner = OWNER_FLOATINGIP.to_string();
    if address.is_some() || subnet_id.is_some() {
        p.fixed_ips = Some(vec![IpRequest {
            subnet_id,
            ip: address,
        }]);
    }
    let own_port_id = d.create_port(p).map_err(|e| e.neutron())?;
    let Some(addr) = d
        .ports
        .get(&own_port_id)
        .and_then(|p| p.fixed_ips.first())
        .map(|f| f.ip)
    else {
        d.remove_port(&own_port_id);
        return Err(bad_fip(format!(
            "Network {network_id} does not contain any IPv4 subnet"
        )));
    };
    d.count(&project, Resource::Floatingip, true);
    d.floating_ips.insert(
        id.clone(),
        FloatingIp {
            id: id.clone(),
            project_id: project,
            network_id,
            address: addr,
            own_port_id: own_port_id.to_string(),
            port_id: None,
            fixed_ip: None,
            router_id: None,
            std,
        },
    );
    associate(d, &id, to);
    let f = find(d, &c, &id)?;
    Ok(created(json!({"floatingip": view(d, f)})))
}

/// `PUT /v2.0/floatingips/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "floatingip")?;
    a.check(ATTRS, PUT, false)?;
    c.require_member("update_floatingip")?;
    let port_id = a.nullable_string("port_id")?;
    let fixed = a.ip("fixed_ip_address")?.flatten();
    let description = a.string("description")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let f = find(d, &c, &id)?;
    if !c.owns(&f.project_id) {
        return Err(policy_denied("rule:update_floatingip"));
    }
    let network_id = f.network_id.clone();
    if let Some(port) = port_id {
        let to = port
            .map(|p| target(d, &c, &id, &network_id, &p, fixed))
            .transpose()?;
        associate(d, &id, to);
    }
    let Some(f) = d.floating_ips.get_mut(&id) else {
        return Err(not_found(&id));
    };
    if let Some(v) = description {
        f.std.description = v;
    }
    f.std.touch();
    let f = find(d, &c, &id)?;
    Ok(ok(json!({"floatingip": view(d, f)})))
}

/// `DELETE /v2.0/floatingips/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("delete_floatingip")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    find(d, &c, &id)?;
    associate(d, &id, None);
    if let Some(f) = d.floating_ips.remove(&id) {
        d.remove_port(&f.own_port_id);
        d.count(&f.project_id, Resource::Floatingip, false);
    }
    Ok(no_content())
}
