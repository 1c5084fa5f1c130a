//! `/v2.0/ports`.

use super::body::{invalid_attr, parse_ip, py, Attrs};
use super::query::ListQuery;
use super::{
    collection_url, created, networks, no_content, ok, policy_denied, shown, Caller, Pairs, Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{parse_mac, AddressPair, FixedIp, Port, Profile, Sid};
use crate::network::ops::{neutron_error, IpRequest, NewPort, PortError};
use crate::network::NetworkData;
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use ipnet::IpNet;
use serde_json::{json, Value};

/// Every attribute of a port.
pub const ATTRS: &[&str] = &[
    "id",
    "name",
    "network_id",
    "project_id",
    "tenant_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "fixed_ips",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "security_groups",
    "description",
    "binding:vnic_type",
    "binding:profile",
    "binding:host_id",
    "binding:vif_type",
    "binding:vif_details",
    "port_security_enabled",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

const POST: &[&str] = &[
    "name",
    "network_id",
    "project_id",
    "tenant_id",
    "mac_address",
    "admin_state_up",
    "device_id",
    "device_owner",
    "fixed_ips",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "security_groups",
    "description",
    "binding:vnic_type",
    "binding:profile",
    "binding:host_id",
    "port_security_enabled",
    "tags",
];

const PUT: &[&str] = &[
    "name",
    "mac_address",
    "admin_state_up",
    "device_id",
    "device_owner",
    "fixed_ips",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "security_groups",
    "description",
    "binding:vnic_type",
    "binding:profile",
    "binding:host_id",
    "port_security_enabled",
];

const VNIC_TYPES: [&str; 9] = [
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
];

/// `[{"subnet_id": .., "ip_address": ..}]`
pub fn fixed_ips_json(ips: &[FixedIp]) -> Value {
    Value::Array(
        ips.iter()
            .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip.to_string()}))
            .collect(),
    )
}

/// A port as the caller sees it (admins also see the `binding:` details).
pub fn view(p: &Port, admin: bool) -> Value {
    let pairs: Vec<Value> = p
        .allowed_address_pairs
        .iter()
        .map(|a| json!({"ip_address": a.ip_address, "mac_address": a.mac_address}))
        .collect();
    let mut v = json!({
        "id": p.id, "name": p.name, "network_id": p.network_id, "project_id": p.project_id,
        "mac_address": p.mac_string(), "admin_state_up": p.admin_state_up,
        "status": p.status(), "device_id": p.device_id, "device_owner": p.device_owner,
        "fixed_ips": fixed_ips_json(&p.fixed_ips), "allowed_address_pairs": pairs,
        "extra_dhcp_opts": [], "security_groups": p.security_groups,
        "description": p.std.description, "binding:vnic_type": p.vnic_type,
    });
    if admin {
        let bound = !p.host.is_empty();
        v["binding:profile"] = Value::Object(p.profile.as_deref().cloned().unwrap_or_default());
        v["binding:host_id"] = json!(p.host);
        v["binding:vif_type"] = json!(if bound { "ovs" } else { "unbound" });
        v["binding:vif_details"] = if bound {
            json!({"connectivity": "l2", "port_filter": true, "ovs_hybrid_plug": false,
                "datapath_type": "system", "bridge_name": "br-int"})
        } else {
            json!({})
        };
    }
    v["port_security_enabled"] = json!(p.port_security_enabled);
    v["tags"] = json!(p.std.tags);
    v["created_at"] = json!(time::iso_z(p.std.created_at));
    v["updated_at"] = json!(time::iso_z(p.std.updated_at));
    v["revision_number"] = json!(p.std.revision);
    v["tenant_id"] = json!(p.project_id);
    v
}

/// `PortNotFound` (404).
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "PortNotFound",
        format!("Port {id} could not be found."),
    )
}

/// True when the caller may see the port: its own, or one on its network.
fn visible(d: &NetworkData, c: &Caller, p: &Port) -> bool {
    c.owns(&p.project_id)
        || d.networks
            .get(&p.network_id)
            .is_some_and(|n| c.owns(&n.project_id))
}

/// A port the caller may see.
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a Port, ApiError> {
    d.ports
        .get(id)
        .filter(|p| visible(d, c, p))
        .ok_or_else(|| not_found(id))
}

fn parse_fixed_ips(a: &Attrs) -> Result<Option<Vec<IpRequest>>, ApiError> {
    let Some(v) = a.raw("fixed_ips") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| invalid_attr("fixed_ips", format!("'{}' is not a list", py(v))))?;
    items
        .iter()
        .map(|e| {
            let Some(obj) = e.as_object() else {
                return Err(invalid_attr(
                    "fixed_ips",
                    format!("'{}' is not a dictionary", py(e)),
                ));
            };
            if let Some(k) = obj.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
                return Err(invalid_attr(
                    "fixed_ips",
                    format!("Unrecognized attribute(s) '{k}'"),
                ));
            }
            let ip = obj
                .get("ip_address")
                .map(|v| parse_ip("fixed_ips", v))
                .transpose()?;
            let subnet_id = obj
                .get("subnet_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(IpRequest { subnet_id, ip })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Allowed address pairs; a pair without a MAC takes `mac` (the port's, or filled in once
/// the port exists when `None`).
fn parse_pairs(a: &Attrs, mac: Option<&str>) -> Result<Option<Vec<AddressPair>>, ApiError> {
    let Some(v) = a.raw("allowed_address_pairs") else {
        return Ok(None);
    };
    let items = v.as_array().ok_or_else(|| {
        invalid_attr(
            "allowed_address_pairs",
            format!("'{}' is not a list", py(v)),
        )
    })?;
    items
        .iter()
        .map(|e| {
            let ip = e.get("ip_address").and_then(Value::as_str).ok_or_else(|| {
                neutron_error(
                    400,
                    "AllowedAddressPairsMissingIP",
                    "AllowedAddressPair must contain ip_address",
                )
            })?;
            let ip_ok = ip.parse::<IpNet>().is_ok() || ip.parse::<std::net::IpAddr>().is_ok();
            if !ip_ok {
                return Err(invalid_attr(
                    "allowed_address_pairs",
                    format!("'{ip}' is not a valid IP address"),
                ));
            }
            let pair_mac = e
                .get("mac_address")
                .and_then(Value::as_str)
                .or(mac)
                .unwrap_or("");
            if !pair_mac.is_empty() && parse_mac(pair_mac).is_none() {
                return Err(invalid_attr(
                    "allowed_address_pairs",
                    format!("'{pair_mac}' is not a valid MAC address"),
                ));
            }
            Ok(AddressPair {
                ip_address: ip.to_string(),
                mac_address: pair_mac.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_vnic(a: &Attrs) -> Result<Option<&'static str>, ApiError> {
    match a.string("binding:vnic_type")? {
        None => Ok(None),
        Some(v) => VNIC_TYPES
            .iter()
            .find(|t| **t == v)
            .copied()
            .map(Some)
            .ok_or_else(|| {
                invalid_attr(
                    "binding:vnic_type",
                    format!("'{v}' is not in {VNIC_TYPES:?}").replace('"', "'"),
                )
            }),
    }
}

/// `binding:profile`: `Some(None)` when set to `{}` or `null`.
fn parse_profile(a: &Attrs) -> Result<Option<Profile>, ApiError> {
    match a.raw("binding:profile") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(m)) if m.is_empty() => Ok(Some(None)),
        Some(Value::Object(m)) => Ok(Some(Some(Box::new(m.clone())))),
        Some(v) => Err(invalid_attr(
            "binding:profile",
            format!("'{}' is not a dictionary", py(v)),
        )),
    }
}

/// The security groups `project` may use, by ID; 404 for any other.
fn group_ids(
    d: &NetworkData,
    c: &Caller,
    project: &str,
    groups: &[String],
) -> Result<Vec<Sid>, ApiError> {
    groups
        .iter()
        .map(|id| {
            d.security_groups
                .get(id.as_str())
                .filter(|g| g.project_id == project || c.admin)
                .map(|g| g.id.clone())
                .ok_or_else(|| PortError::SecurityGroupNotFound(id.clone()).neutron())
        })
        .collect()
}

/// Admin-only port attributes (`binding:host_id`, `binding:profile`).
fn check_admin_attrs(c: &Caller, a: &Attrs, action: &str) -> Result<(), ApiError> {
    for attr in ["binding:host_id", "binding:profile"] {
        if a.has(attr) {
            c.require_admin_attr(action, attr)?;
        }
    }
    Ok(())
}

/// `GET /v2.0/ports`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "ports");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let render = |id: &str| {
        d.ports
            .get(id)
            .filter(|p| visible(d, &c, p))
            .map(|p| view(p, c.admin))
    };
    let body = if let Some(devices) = q.values("device_id") {
        let mut ids: Vec<Sid> = devices
            .iter()
            .flat_map(|dev| d.ports_by_device.get(dev.as_str()).into_iter().flatten())
            .cloned()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        q.answer("ports", &url, ids.iter(), render)
    } else if let Some([net]) = q.values("network_id") {
        let ids = d.networks.get(net.as_str()).map(|n| &n.ports);
        q.answer("ports", &url, ids.into_iter().flatten(), render)
    } else {
        q.answer("ports", &url, d.ports.keys(), render)
    };
    Ok(ok(body))
}

/// `GET /v2.0/ports/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let p = find(&g.network, &c, &id)?;
    Ok(shown("port", view(p, c.admin), &pairs))
}

/// A new port from a request body (the network is checked by the caller).
fn parse_new(a: &Attrs, c: &Caller, network_id: &str) -> Result<NewPort, ApiError> {
    let mut p = NewPort::new(&c.target_project(a)?, network_id);
    p.name = a.string("name")?.unwrap_or_default();
    p.description = a.string("description")?.unwrap_or_default();
    p.admin_state_up = a.boolean("admin_state_up")?.unwrap_or(true);
    p.device_id = a.string("device_id")?.unwrap_or_default();
    p.device_owner = a.string("device_owner")?.unwrap_or_default();
    p.host = a.string("binding:host_id")?.unwrap_or_default();
    p.fixed_ips = parse_fixed_ips(a)?;
    p.security_groups = a.strings("security_groups")?;
    p.port_security_enabled = a.boolean("port_security_enabled")?;
    p.vnic_type = parse_vnic(a)?.unwrap_or(p.vnic_type);
    p.profile = parse_profile(a)?.flatten();
    p.tags = a.strings("tags")?.unwrap_or_default();
    if let Some(m) = a.string("mac_address")? {
        p.mac = Some(parse_mac(&m).ok_or_else(|| {
            invalid_attr("mac_address", format!("'{m}' is not a valid MAC address"))
        })?);
    }
    Ok(p)
}

/// `POST /v2.0/ports`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "port")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_port")?;
    check_admin_attrs(&c, &a, "create_port")?;
    let network_id = a.string("network_id")?.ok_or_else(|| {
        super::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let mut spec = parse_new(&a, &c, &network_id)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let net = networks::find_for_child(d, &c, &network_id, &spec.project_id)?;
    let net_owner = c.owns(&net.project_id);
    if spec.mac.is_some() && !net_owner {
        return Err(policy_denied(
            "(rule:create_port and rule:create_port:mac_address)",
        ));
    }
    let with_ip = spec.fixed_ips.iter().flatten().any(|r| r.ip.is_some());
    if with_ip && !net_owner {
        return Err(policy_denied(
            "(rule:create_port and rule:create_port:fixed_ips:ip_address)",
        ));
    }
    if let Some(groups) = &spec.security_groups {
        group_ids(d, &c, &spec.project_id, groups)?;
    }
    let mac = spec.mac.map(crate::network::model::mac_string);
    let pairs = parse_pairs(&a, mac.as_deref())?.unwrap_or_default();
    let port_security = spec
        .port_security_enabled
        .unwrap_or(net.port_security_enabled);
    if !pairs.is_empty() && !port_security {
        return Err(pairs_need_security());
    }
    spec.allowed_address_pairs = pairs;
    let id = d.create_port(spec).map_err(|e| e.neutron())?;
    fill_pair_macs(d, &id);
    let p = find(d, &c, &id)?;
    Ok(created(json!({"port": view(p, c.admin)})))
}

fn pairs_need_security() -> ApiError {
    neutron_error(
        409,
        "AddressPairAndPortSecurityRequired",
        "Port Security must be enabled in order to have allowed address pairs on a port.",
    )
}

/// Address pairs given without a MAC take the port's (known once the port exists).
fn fill_pair_macs(d: &mut NetworkData, port_id: &str) {
    if let Some(p) = d.ports.get_mut(port_id) {
        let mac = p.mac_string();
        for pair in &mut p.allowed_address_pairs {
            if pair.mac_address.is_empty() {
                pair.mac_address = mac.clone();
            }
        }
    }
}

/// Replaces a port's fixed IPs (all or nothing).
fn replace_fixed_ips(d: &mut NetworkData, id: &str, wanted: &[IpRequest]) -> Result<(), ApiError> {
    let Some(p) = d.ports.get(id) else {
        return Err(not_found(id));
    };
    let (old, net, mac) = (p.fixed_ips.clone(), p.network_id.clone(), p.mac);
    let router = p.device_owner.starts_with("network:router");
    d.release_ips(&old);
    match d.allocate_ips(&net, Some(wanted), mac, router) {
        Ok(new) => {
            if let Some(p) = d.ports.get_mut(id) {
                p.fixed_ips = new;
            }
            Ok(())
        }
        Err(e) => {
            for f in &old {
                if let Some(s) = d.subnets.get_mut(&f.subnet_id) {
                    s.ipam.take(crate::network::ipam::to_int(f.ip));
                }
            }
            Err(e.neutron())
        }
    }
}

/// A port's security settings after an update: groups, port security, address pairs.
struct Security {
    groups: Vec<Sid>,
    enabled: bool,
    pairs: Vec<AddressPair>,
}

/// The security settings an update asks for, checked against each other.
fn security_after(d: &NetworkData, c: &Caller, p: &Port, a: &Attrs) -> Result<Security, ApiError> {
    let groups = match a.strings("security_groups")? {
        Some(g) => Some(group_ids(d, c, &p.project_id, &g)?),
        None => None,
    };
    let enabled = a
        .boolean("port_security_enabled")?
        .unwrap_or(p.port_security_enabled);
    let pairs =
        parse_pairs(a, Some(&p.mac_string()))?.unwrap_or_else(|| p.allowed_address_pairs.clone());
    let explicit_groups = groups.is_some();
    let groups = groups.unwrap_or_else(|| p.security_groups.clone());
    if !enabled && !groups.is_empty() {
        return Err(if explicit_groups {
            PortError::PortSecurityRequired.neutron()
        } else {
            neutron_error(409, "PortSecurityPortHasSecurityGroup", "Port has security group associated. Cannot disable port security or ip address until security group is removed")
        });
    }
    if !enabled && !pairs.is_empty() {
        return Err(pairs_need_security());
    }
    Ok(Security {
        groups,
        enabled,
        pairs,
    })
}

/// The plain attributes of a port update, parsed before anything changes.
struct PortUpdate {
    name: Option<String>,
    description: Option<String>,
    admin_state_up: Option<bool>,
    device_id: Option<String>,
    device_owner: Option<String>,
    host: Option<String>,
    vnic: Option<&'static str>,
    profile: Option<Profile>,
    mac: Option<u64>,
    fixed_ips: Option<Vec<IpRequest>>,
}

fn parse_update(a: &Attrs) -> Result<PortUpdate, ApiError> {
    let mac = match a.string("mac_address")? {
        None => None,
        Some(m) => Some(parse_mac(&m).ok_or_else(|| {
            invalid_attr("mac_address", format!("'{m}' is not a valid MAC address"))
        })?),
    };
    Ok(PortUpdate {
        name: a.string("name")?,
        description: a.string("description")?,
        admin_state_up: a.boolean("admin_state_up")?,
        device_id: a.string("device_id")?,
        device_owner: a.string("device_owner")?,
        host: a.string("binding:host_id")?,
        vnic: parse_vnic(a)?,
        profile: parse_profile(a)?,
        mac,
        fixed_ips: parse_fixed_ips(a)?,
    })
}

/// Checks the caller may update the port: its owner or the owner of its network.
fn check_update_rights(d: &NetworkData, c: &Caller, p: &Port, a: &Attrs) -> Result<(), ApiError> {
    let net_owner = d
        .networks
        .get(&p.network_id)
        .is_some_and(|n| c.owns(&n.project_id));
    if !c.owns(&p.project_id) && !net_owner {
        return Err(policy_denied("rule:update_port"));
    }
    c.require_member("update_port")?;
    check_admin_attrs(c, a, "update_port")?;
    if a.has("mac_address") {
        c.require_admin_attr("update_port", "mac_address")?;
    }
    Ok(())
}

/// Gives a port a new MAC (unique on the site).
fn change_mac(d: &mut NetworkData, id: &str, mac: u64) -> Result<(), ApiError> {
    let Some(p) = d.ports.get(id) else {
        return Err(not_found(id));
    };
    if p.mac == mac {
        return Ok(());
    }
    if !d.macs.insert(mac) {
        return Err(PortError::MacInUse {
            network_id: p.network_id.to_string(),
            mac: crate::network::model::mac_string(mac),
        }
        .neutron());
    }
    let old = p.mac;
    d.macs.remove(&old);
    if let Some(p) = d.ports.get_mut(id) {
        p.mac = mac;
    }
    Ok(())
}

/// `PUT /v2.0/ports/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "port")?;
    a.check(ATTRS, PUT, false)?;
    let upd = parse_update(&a)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let p = find(d, &c, &id)?;
    check_update_rights(d, &c, p, &a)?;
    let security = security_after(d, &c, p, &a)?;
    let device = upd.device_id.unwrap_or_else(|| p.device_id.to_string());
    let owner = upd
        .device_owner
        .unwrap_or_else(|| p.device_owner.to_string());
    let host = upd.host.unwrap_or_else(|| p.host.to_string());
    if let Some(wanted) = &upd.fixed_ips {
        replace_fixed_ips(d, &id, wanted)?;
    }
    if let Some(mac) = upd.mac {
        change_mac(d, &id, mac)?;
    }
    d.set_device(&id, &device, &owner, &host);
    let Some(p) = d.ports.get_mut(id.as_str()) else {
        return Err(not_found(&id));
    };
    p.security_groups = security.groups;
    p.port_security_enabled = security.enabled;
    p.allowed_address_pairs = security.pairs;
    if let Some(v) = upd.name {
        p.name = v;
    }
    if let Some(v) = upd.description {
        p.std.description = v;
    }
    if let Some(v) = upd.admin_state_up {
        p.admin_state_up = v;
    }
    if let Some(v) = upd.vnic {
        p.vnic_type = v;
    }
    if let Some(v) = upd.profile {
        p.profile = v;
    }
    // set_device counted this update's revision.
    Ok(ok(json!({"port": view(p, c.admin)})))
}

/// `DELETE /v2.0/ports/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let p = find(d, &c, &id)?;
    if !c.owns(&p.project_id) && !c.admin {
        return Err(policy_denied("rule:delete_port"));
    }
    c.require_member("delete_port")?;
    if [
        "network:router_interface",
        "network:router_gateway",
        "network:floatingip",
    ]
    .contains(&p.device_owner.as_str())
    {
        return Err(neutron_error(
            409,
            "ServicePortInUse",
            format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                p.device_owner
            ),
        ));
    }
    d.remove_port(&id);
    Ok(no_content())
}
