//! `/v2.0/subnets`.

use super::body::{invalid_attr, parse_cidr, parse_ip, py, Attrs};
use super::query::ListQuery;
use super::{
    bad_request, collection_url, created, invalid_input, networks, no_content, ok, policy_denied,
    set, shown, Caller, Pairs, Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::ipam::{from_int, to_int};
use crate::network::model::Subnet;
use crate::network::ops::{neutron_error, GatewayChoice, NewSubnet};
use crate::network::NetworkData;
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use ipnet::IpNet;
use serde_json::{json, Value};
use std::net::IpAddr;

/// Every attribute of a subnet.
pub const ATTRS: &[&str] = &[
    "id",
    "name",
    "project_id",
    "tenant_id",
    "network_id",
    "ip_version",
    "subnetpool_id",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "gateway_ip",
    "cidr",
    "allocation_pools",
    "host_routes",
    "dns_nameservers",
    "description",
    "router:external",
    "service_types",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "prefixlen",
    "use_default_subnetpool",
];

const POST: &[&str] = &[
    "name",
    "project_id",
    "tenant_id",
    "network_id",
    "ip_version",
    "subnetpool_id",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "gateway_ip",
    "cidr",
    "allocation_pools",
    "host_routes",
    "dns_nameservers",
    "description",
    "service_types",
    "tags",
    "prefixlen",
    "use_default_subnetpool",
];

const PUT: &[&str] = &[
    "name",
    "enable_dhcp",
    "gateway_ip",
    "allocation_pools",
    "host_routes",
    "dns_nameservers",
    "description",
    "service_types",
];

const IPV6_MODES: [&str; 3] = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];

/// A subnet as shown; `external` is its network's `router:external`.
pub fn view(s: &Subnet, external: bool) -> Value {
    let like = s.cidr.network();
    let pools: Vec<Value> = s
        .ipam
        .pools()
        .iter()
        .map(|(a, b)| json!({"start": from_int(*a, like).to_string(), "end": from_int(*b, like).to_string()}))
        .collect();
    let routes: Vec<Value> = s
        .host_routes
        .iter()
        .map(|(d, n)| json!({"destination": d, "nexthop": n}))
        .collect();
    json!({
        "id": s.id, "name": s.name, "project_id": s.project_id, "network_id": s.network_id,
        "ip_version": s.ip_version(), "subnetpool_id": null, "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode,
        "gateway_ip": s.gateway_ip.map(|g| g.to_string()), "cidr": s.cidr.to_string(),
        "allocation_pools": pools, "host_routes": routes, "dns_nameservers": s.dns_nameservers,
        "description": s.std.description, "router:external": external,
        "service_types": s.service_types, "tags": s.std.tags,
        "created_at": time::iso_z(s.std.created_at), "updated_at": time::iso_z(s.std.updated_at),
        "revision_number": s.std.revision, "tenant_id": s.project_id,
    })
}

/// `SubnetNotFound` (404).
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "SubnetNotFound",
        format!("Subnet {id} could not be found."),
    )
}

fn is_external(d: &NetworkData, s: &Subnet) -> bool {
    d.networks.get(&s.network_id).is_some_and(|n| n.external)
}

/// True when the caller may see the subnet: its own, or one on a network it sees.
fn visible(d: &NetworkData, c: &Caller, s: &Subnet) -> bool {
    c.owns(&s.project_id)
        || d.networks
            .get(&s.network_id)
            .is_some_and(|n| networks::visible(c, n))
}

/// A subnet the caller may see.
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a Subnet, ApiError> {
    d.subnets
        .get(id)
        .filter(|s| visible(d, c, s))
        .ok_or_else(|| not_found(id))
}

fn required(key: &str) -> ApiError {
    bad_request(format!(
        "Failed to parse request. Required attribute '{key}' not specified"
    ))
}

fn mismatch(name: &str, addr: impl std::fmt::Display, version: u8) -> ApiError {
    invalid_input(format!(
        "{name} '{addr}' does not match the ip_version '{version}'"
    ))
}

fn ipv6_mode(a: &Attrs, key: &str) -> Result<Option<String>, ApiError> {
    match a.nullable_string(key)?.flatten() {
        Some(m) if !IPV6_MODES.contains(&m.as_str()) => Err(invalid_attr(
            key,
            format!("'{m}' is not in {IPV6_MODES:?}").replace('"', "'"),
        )),
        other => Ok(other),
    }
}

fn parse_pools(a: &Attrs) -> Result<Option<Vec<(IpAddr, IpAddr)>>, ApiError> {
    let Some(v) = a.raw("allocation_pools") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| invalid_attr("allocation_pools", format!("'{}' is not a list", py(v))))?;
    items
        .iter()
        .map(|p| {
            let (Some(s), Some(e)) = (p.get("start"), p.get("end")) else {
                return Err(invalid_attr(
                    "allocation_pools",
                    format!("'{}' is not a valid allocation pool", py(p)),
                ));
            };
            Ok((
                parse_ip("allocation_pools", s)?,
                parse_ip("allocation_pools", e)?,
            ))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_routes(a: &Attrs) -> Result<Option<Vec<(String, String)>>, ApiError> {
    let Some(v) = a.raw("host_routes") else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| invalid_attr("host_routes", format!("'{}' is not a list", py(v))))?;
    items
        .iter()
        .map(|r| {
            let (Some(d), Some(n)) = (r.get("destination"), r.get("nexthop")) else {
                return Err(invalid_attr(
                    "host_routes",
                    format!("Validation of dictionary's keys failed. Expected keys: {{'destination', 'nexthop'}} Provided keys: {}", py(r)),
                ));
            };
            let dest = parse_cidr(d)?;
            let hop = parse_ip("host_routes", n)?;
            Ok((dest.to_string(), hop.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn parse_nameservers(a: &Attrs) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = a.strings("dns_nameservers")? else {
        return Ok(None);
    };
    for (i, ns) in list.iter().enumerate() {
        if ns.parse::<IpAddr>().is_err() {
            return Err(invalid_attr(
                "dns_nameservers",
                format!("'{ns}' is not a valid nameserver"),
            ));
        }
        if list[..i].contains(ns) {
            return Err(invalid_attr(
                "dns_nameservers",
                format!("Duplicate nameserver '{ns}'"),
            ));
        }
    }
    Ok(Some(list))
}

fn parse_gateway(a: &Attrs, version: u8) -> Result<GatewayChoice, ApiError> {
    match a.ip("gateway_ip")? {
        None => Ok(GatewayChoice::Default),
        Some(None) => Ok(GatewayChoice::Disabled),
        Some(Some(ip)) if (ip.is_ipv4() && version == 4) || (ip.is_ipv6() && version == 6) => {
            Ok(GatewayChoice::Ip(ip))
        }
        Some(Some(ip)) => Err(mismatch("gateway_ip", ip, version)),
    }
}

/// The CIDR and IP version of a new subnet.
fn parse_cidr_version(a: &Attrs) -> Result<(IpNet, u8), ApiError> {
    let version = match a.raw("ip_version") {
        None => return Err(required("ip_version")),
        Some(v) => match v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(4) => 4u8,
            Some(6) => 6u8,
            _ => {
                return Err(invalid_attr(
                    "ip_version",
                    format!("{} is not in [4, 6]", py(v)),
                ))
            }
        },
    };
    let Some(raw) = a.raw("cidr").filter(|v| !v.is_null()) else {
        return Err(neutron_error(
            400,
            "BadRequest",
            "Bad subnets request: a subnetpool must be specified in the absence of a cidr.",
        ));
    };
    let cidr = parse_cidr(raw)?;
    if cidr.network().is_ipv4() != (version == 4) {
        return Err(mismatch("cidr", cidr, version));
    }
    Ok((cidr, version))
}

/// A new subnet from a request body.
fn parse_new(a: &Attrs, project: String) -> Result<NewSubnet, ApiError> {
    let network_id = a
        .string("network_id")?
        .ok_or_else(|| required("network_id"))?;
    if let Some(pool) = a.nullable_string("subnetpool_id")?.flatten() {
        return Err(neutron_error(
            404,
            "SubnetPoolNotFound",
            format!("Subnet pool {pool} could not be found."),
        ));
    }
    let (cidr, version) = parse_cidr_version(a)?;
    let ra_mode = ipv6_mode(a, "ipv6_ra_mode")?;
    let address_mode = ipv6_mode(a, "ipv6_address_mode")?;
    if version == 4 && (ra_mode.is_some() || address_mode.is_some()) {
        return Err(invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4",
        ));
    }
    if matches!(address_mode.as_deref(), Some("slaac" | "dhcpv6-stateless"))
        && cidr.prefix_len() != 64
    {
        return Err(invalid_input(format!(
            "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    Ok(NewSubnet {
        project_id: project,
        network_id,
        name: a.string("name")?.unwrap_or_default(),
        description: a.string("description")?.unwrap_or_default(),
        gateway: parse_gateway(a, version)?,
        pools: parse_pools(a)?,
        enable_dhcp: a.boolean("enable_dhcp")?.unwrap_or(true),
        dns_nameservers: parse_nameservers(a)?.unwrap_or_default(),
        host_routes: parse_routes(a)?.unwrap_or_default(),
        ipv6_ra_mode: ra_mode,
        ipv6_address_mode: address_mode,
        service_types: a.strings("service_types")?.unwrap_or_default(),
        tags: a.strings("tags")?.unwrap_or_default(),
        ..NewSubnet::new(cidr)
    })
}

/// `GET /v2.0/subnets`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "subnets");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let body = q.answer("subnets", &url, d.subnets.keys(), |id| {
        d.subnets
            .get(id)
            .filter(|s| visible(d, &c, s))
            .map(|s| view(s, is_external(d, s)))
    });
    Ok(ok(body))
}

/// `GET /v2.0/subnets/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let d = &g.network;
    let s = find(d, &c, &id)?;
    Ok(shown("subnet", view(s, is_external(d, s)), &pairs))
}

/// `POST /v2.0/subnets`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "subnet")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_subnet")?;
    let spec = parse_new(&a, c.target_project(&a)?)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let net = networks::find_for_child(d, &c, &spec.network_id, &spec.project_id)?;
    if !c.owns(&net.project_id) {
        return Err(policy_denied("rule:create_subnet"));
    }
    let id = d.insert_subnet(spec)?;
    let s = find(d, &c, &id)?;
    Ok(created(json!({"subnet": view(s, is_external(d, s))})))
}

/// Applies a new gateway and pools to a subnet, checking they do not clash.
fn apply_addressing(
    s: &mut Subnet,
    gateway: Option<Option<IpAddr>>,
    pools: Option<Vec<(IpAddr, IpAddr)>>,
) -> Result<(), ApiError> {
    if let Some(pools) = pools {
        let ints = pools
            .iter()
            .map(|(a, b)| (to_int(*a), to_int(*b)))
            .collect();
        s.ipam.set_pools(ints);
    }
    if let Some(g) = gateway {
        if let Some(ip) = g {
            if ip.is_ipv4() != s.cidr.network().is_ipv4() {
                return Err(mismatch("gateway_ip", ip, s.ip_version()));
            }
        }
        s.gateway_ip = g;
    }
    if let Some(g) = s.gateway_ip.map(to_int) {
        if let Some((a, b)) = s.ipam.pools().iter().find(|(a, b)| (*a..=*b).contains(&g)) {
            let like = s.cidr.network();
            return Err(neutron_error(
                409,
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {} conflicts with allocation pool {}-{}",
                    from_int(g, like),
                    from_int(*a, like),
                    from_int(*b, like)
                ),
            ));
        }
    }
    Ok(())
}

/// `PUT /v2.0/subnets/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "subnet")?;
    a.check(ATTRS, PUT, false)?;
    let gateway = a.ip("gateway_ip")?;
    let pools = parse_pools(&a)?;
    let routes = parse_routes(&a)?;
    let nameservers = parse_nameservers(&a)?;
    let name = a.string("name")?;
    let description = a.string("description")?;
    let enable_dhcp = a.boolean("enable_dhcp")?;
    let service_types = a.strings("service_types")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let s = find(d, &c, &id)?;
    if !c.owns(&s.project_id) {
        return Err(policy_denied("rule:update_subnet"));
    }
    c.require_member("update_subnet")?;
    let external = is_external(d, s);
    let Some(s) = d.subnets.get_mut(id.as_str()) else {
        return Err(not_found(&id));
    };
    let before = s.clone();
    if let Err(e) = apply_addressing(s, gateway, pools) {
        *s = before;
        return Err(e);
    }
    set(&mut s.name, name);
    set(&mut s.std.description, description);
    set(&mut s.enable_dhcp, enable_dhcp);
    set(&mut s.host_routes, routes);
    set(&mut s.dns_nameservers, nameservers);
    set(&mut s.service_types, service_types);
    s.std.touch();
    Ok(ok(json!({"subnet": view(s, external)})))
}

/// `DELETE /v2.0/subnets/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let s = find(d, &c, &id)?;
    if !c.owns(&s.project_id) {
        return Err(policy_denied("rule:delete_subnet"));
    }
    c.require_member("delete_subnet")?;
    if d.subnet_in_use(&id) {
        return Err(neutron_error(
            409,
            "SubnetInUse",
            format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
        ));
    }
    d.remove_subnet(&id);
    Ok(no_content())
}
