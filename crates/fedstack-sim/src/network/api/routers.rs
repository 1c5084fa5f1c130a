//! `/v2.0/routers`: routers, their external gateway (SNAT, an address on the external
//! network) and their interfaces (a port holding the subnet's gateway address).

use super::body::{invalid_attr, parse_ip, py, Attrs};
use super::query::ListQuery;
use super::{
    collection_url, created, networks, no_content, ok, policy_denied, ports, set, shown, subnets,
    Caller, Pairs, Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{Gateway, Port, Resource, Router, Sid, Std};
use crate::network::ops::{neutron_error, over_quota, IpRequest, OWNER_ROUTER_INTERFACE};
use crate::network::NetworkData;
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use serde_json::{json, Value};

/// Every attribute of a router.
pub const ATTRS: &[&str] = &[
    "id",
    "name",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "status",
    "external_gateway_info",
    "description",
    "availability_zones",
    "availability_zone_hints",
    "routes",
    "flavor_id",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "distributed",
    "ha",
];

const POST: &[&str] = &[
    "name",
    "project_id",
    "tenant_id",
    "admin_state_up",
    "external_gateway_info",
    "description",
    "availability_zone_hints",
    "flavor_id",
    "tags",
    "distributed",
    "ha",
];

const PUT: &[&str] = &[
    "name",
    "admin_state_up",
    "external_gateway_info",
    "description",
    "routes",
    "distributed",
    "ha",
];

/// `BadRequest` of a router request.
fn bad_router(msg: impl std::fmt::Display) -> ApiError {
    neutron_error(400, "BadRequest", format!("Bad router request: {msg}."))
}

fn gateway_view(d: &NetworkData, gw: &Gateway) -> Value {
    let ips = d
        .ports
        .get(gw.port_id.as_str())
        .map(|p| ports::fixed_ips_json(&p.fixed_ips))
        .unwrap_or_else(|| json!([]));
    json!({"network_id": gw.network_id, "external_fixed_ips": ips, "enable_snat": gw.enable_snat})
}

/// A router as the caller sees it (admins also see `distributed` and `ha`).
fn view(d: &NetworkData, r: &Router, admin: bool) -> Value {
    let routes: Vec<Value> = r
        .routes
        .iter()
        .map(|(dst, hop)| json!({"destination": dst, "nexthop": hop}))
        .collect();
    let mut v = json!({
        "id": r.id, "name": r.name, "project_id": r.project_id,
        "admin_state_up": r.admin_state_up, "status": "ACTIVE",
        "external_gateway_info": r.gateway.as_ref().map(|g| gateway_view(d, g)),
        "description": r.std.description, "availability_zones": [],
        "availability_zone_hints": r.az_hints, "routes": routes, "flavor_id": null,
    });
    if admin {
        v["distributed"] = json!(r.distributed);
        v["ha"] = json!(r.ha);
    }
    v["tags"] = json!(r.std.tags);
    v["created_at"] = json!(time::iso_z(r.std.created_at));
    v["updated_at"] = json!(time::iso_z(r.std.updated_at));
    v["revision_number"] = json!(r.std.revision);
    v["tenant_id"] = json!(r.project_id);
    v
}

fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "RouterNotFound",
        format!("Router {id} could not be found"),
    )
}

/// A router the caller may see (its not-found error otherwise).
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a Router, ApiError> {
    d.routers
        .get(id)
        .filter(|r| c.owns(&r.project_id))
        .ok_or_else(|| not_found(id))
}

/// The interface ports of a router.
fn interfaces<'a>(d: &'a NetworkData, router_id: &str) -> impl Iterator<Item = &'a Port> {
    d.ports_by_device
        .get(router_id)
        .into_iter()
        .flatten()
        .filter_map(|id| d.ports.get(id))
        .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE)
}

/// A requested gateway: (network, SNAT, fixed IPs), `None` to clear it.
type GatewayRequest = Option<(String, Option<bool>, Option<Vec<IpRequest>>)>;

fn parse_gateway(a: &Attrs, c: &Caller, action: &str) -> Result<Option<GatewayRequest>, ApiError> {
    let Some(v) = a.raw("external_gateway_info") else {
        return Ok(None);
    };
    let obj = match v {
        Value::Null => return Ok(Some(None)),
        Value::Object(o) if o.is_empty() => return Ok(Some(None)),
        Value::Object(o) => o,
        other => {
            return Err(invalid_attr(
                "external_gateway_info",
                format!("'{}' is not a dictionary", py(other)),
            ))
        }
    };
    let network_id = obj
        .get("network_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid_attr(
                "external_gateway_info",
                "Validation of dictionary's keys failed. Expected keys: {'network_id'}",
            )
        })?;
    let snat = match obj.get("enable_snat") {
        None => None,
        Some(Value::Bool(b)) => {
            c.require_admin_attr(action, "external_gateway_info:enable_snat")?;
            Some(*b)
        }
        Some(other) => {
            return Err(invalid_attr(
                "enable_snat",
                format!("'{}' is not a valid boolean value", py(other)),
            ))
        }
    };
    let ips = match obj.get("external_fixed_ips") {
        None => None,
        Some(Value::Array(list)) => {
            c.require_admin_attr(action, "external_gateway_info:external_fixed_ips")?;
            let reqs = list
                .iter()
                .map(|e| {
                    Ok(IpRequest {
                        subnet_id: e
                            .get("subnet_id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        ip: e
                            .get("ip_address")
                            .map(|v| parse_ip("external_fixed_ips", v))
                            .transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            Some(reqs)
        }
        Some(other) => {
            return Err(invalid_attr(
                "external_fixed_ips",
                format!("'{}' is not a list", py(other)),
            ))
        }
    };
    Ok(Some(Some((network_id.to_string(), snat, ips))))
}

/// True when floating IPs go through this router's gateway.
fn gateway_in_use(d: &NetworkData, router_id: &str) -> bool {
    d.floating_ips
        .values()
        .any(|f| f.router_id.as_deref() == Some(router_id))
}

/// Sets, changes or clears a router's gateway.
fn apply_gateway(
    d: &mut NetworkData,
    c: &Caller,
    id: &str,
    req: GatewayRequest,
) -> Result<(), ApiError> {
    let current = d.routers.get(id).and_then(|r| r.gateway.clone());
    let same_net = match (&current, &req) {
        (Some(g), Some((net, _, None))) => &g.network_id == net,
        _ => false,
    };
    if same_net {
        if let (Some(r), Some((_, Some(snat), _))) = (d.routers.get_mut(id), &req) {
            if let Some(g) = r.gateway.as_mut() {
                g.enable_snat = *snat;
            }
        }
        return Ok(());
    }
    if let Some(gw) = &current {
        if gateway_in_use(d, id) {
            return Err(neutron_error(
                409,
                "RouterExternalGatewayInUseByFloatingIp",
                format!("Gateway cannot be updated for router {id}, since a gateway to external network {} is required by one or more floating IPs.", gw.network_id),
            ));
        }
    }
    let new_gateway = match req {
        None => None,
        Some((net, snat, ips)) => Some(create_gateway_port(d, c, id, &net, snat, ips)?),
    };
    if let Some(gw) = current {
        d.remove_port(&gw.port_id);
        if let Some(r) = d.routers.get_mut(id) {
            r.std.touch();
        }
    }
    if let Some(r) = d.routers.get_mut(id) {
        r.gateway = new_gateway;
    }
    Ok(())
}

fn create_gateway_port(
    d: &mut NetworkData,
    c: &Caller,
    router_id: &str,
    network_id: &str,
    snat: Option<bool>,
    ips: Option<Vec<IpRequest>>,
) -> Result<Gateway, ApiError> {
    let net = networks::find(d, c, network_id)?;
    if !net.external {
        return Err(bad_router(format!(
            "Network {network_id} is not an external network"
        )));
    }
    let port_id = d
        .create_gateway_port(router_id, network_id, ips)
        .map_err(|e| e.neutron())?;
    Ok(Gateway {
        network_id: network_id.to_string(),
        port_id: port_id.to_string(),
        enable_snat: snat.unwrap_or(true),
    })
}

/// `GET /v2.0/routers`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "routers");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let body = q.answer("routers", &url, d.routers.keys(), |id| {
        find(d, &c, id).ok().map(|r| view(d, r, c.admin))
    });
    Ok(ok(body))
}

/// `GET /v2.0/routers/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let d = &g.network;
    let r = find(d, &c, &id)?;
    Ok(shown("router", view(d, r, c.admin), &pairs))
}

/// `POST /v2.0/routers`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "router")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_router")?;
    for attr in ["distributed", "ha"] {
        if a.has(attr) {
            c.require_admin_attr("create_router", attr)?;
        }
    }
    let gateway = parse_gateway(&a, &c, "create_router")?.flatten();
    let mut std = Std::new(1, a.string("description")?.unwrap_or_default());
    std.tags = a.strings("tags")?.unwrap_or_default();
    let name = a.string("name")?.unwrap_or_default();
    let project = c.target_project(&a)?;
    let admin_state_up = a.boolean("admin_state_up")?.unwrap_or(true);
    let az_hints = a.strings("availability_zone_hints")?.unwrap_or_default();
    let distributed = a.boolean("distributed")?.unwrap_or(false);
    let ha = a.boolean("ha")?.unwrap_or(false);
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    if !d.has_room(&project, Resource::Router, 1) {
        return Err(over_quota(Resource::Router));
    }
    let id = d.insert_router(&project, &name, std);
    if let Some(r) = d.routers.get_mut(&id) {
        r.admin_state_up = admin_state_up;
        r.az_hints = az_hints;
        r.distributed = distributed;
        r.ha = ha;
    }
    if let Some(gw) = gateway {
        if let Err(e) = apply_gateway(d, &c, &id, Some(gw)) {
            d.remove_router(&id);
            return Err(e);
        }
    }
    let r = find(d, &c, &id)?;
    Ok(created(json!({"router": view(d, r, c.admin)})))
}

fn parse_routes(a: &Attrs) -> Result<Option<Vec<(String, String)>>, ApiError> {
    let Some(v) = a.raw("routes") else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| invalid_attr("routes", format!("'{}' is not a list", py(v))))?;
    list.iter()
        .map(|r| {
            let dst = r.get("destination").ok_or_else(|| invalid_attr("routes", "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}"))?;
            let hop = r.get("nexthop").ok_or_else(|| invalid_attr("routes", "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}"))?;
            Ok((super::body::parse_cidr(dst)?.to_string(), parse_ip("routes", hop)?.to_string()))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

/// `PUT /v2.0/routers/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "router")?;
    a.check(ATTRS, PUT, false)?;
    c.require_member("update_router")?;
    for attr in ["distributed", "ha"] {
        if a.has(attr) {
            c.require_admin_attr("update_router", attr)?;
        }
    }
    let gateway = parse_gateway(&a, &c, "update_router")?;
    let routes = parse_routes(&a)?;
    let name = a.string("name")?;
    let description = a.string("description")?;
    let admin_state_up = a.boolean("admin_state_up")?;
    let distributed = a.boolean("distributed")?;
    let ha = a.boolean("ha")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    find(d, &c, &id)?;
    if let Some(gw) = gateway {
        apply_gateway(d, &c, &id, gw)?;
    }
    let Some(r) = d.routers.get_mut(&id) else {
        return Err(not_found(&id));
    };
    set(&mut r.name, name);
    set(&mut r.std.description, description);
    set(&mut r.admin_state_up, admin_state_up);
    set(&mut r.routes, routes);
    set(&mut r.distributed, distributed);
    set(&mut r.ha, ha);
    r.std.touch();
    let r = find(d, &c, &id)?;
    Ok(ok(json!({"router": view(d, r, c.admin)})))
}

/// `DELETE /v2.0/routers/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("delete_router")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    find(d, &c, &id)?;
    if interfaces(d, &id).next().is_some() {
        return Err(neutron_error(
            409,
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    d.remove_router(&id);
    Ok(no_content())
}

/// The `subnet_id` or `port_id` of an interface request.
enum InterfaceRef {
    Subnet(String),
    Port(String),
}

fn interface_ref(body: &Value) -> Result<InterfaceRef, ApiError> {
    let get = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    match (get("subnet_id"), get("port_id")) {
        (Some(_), Some(_)) => Err(bad_router("Cannot specify both subnet-id and port-id")),
        (Some(s), None) => Ok(InterfaceRef::Subnet(s)),
        (None, Some(p)) => Ok(InterfaceRef::Port(p)),
        (None, None) => Err(bad_router("Either subnet_id or port_id must be specified")),
    }
}

/// The answer of add/remove interface.
fn interface_info(router: &Router, port: &Port) -> Value {
    let subnet_ids: Vec<&str> = port
        .fixed_ips
        .iter()
        .map(|f| f.subnet_id.as_str())
        .collect();
    json!({
        "id": router.id, "project_id": router.project_id, "port_id": port.id,
        "network_id": port.network_id, "subnet_id": subnet_ids.first(), "subnet_ids": subnet_ids,
    })
}

/// `PUT /v2.0/routers/{id}/add_router_interface`.
pub async fn add_interface(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("add_router_interface")?;
    let which = interface_ref(&body)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let project = find(d, &c, &id)?.project_id.clone();
    let port_id = match which {
        InterfaceRef::Subnet(sid) => add_subnet_interface(d, &c, &id, &project, &sid)?,
        InterfaceRef::Port(pid) => add_port_interface(d, &c, &id, &pid)?,
    };
    if let Some(r) = d.routers.get_mut(&id) {
        r.std.touch();
    }
    let (Some(r), Some(p)) = (d.routers.get(&id), d.ports.get(port_id.as_str())) else {
        return Err(not_found(&id));
    };
    Ok(ok(interface_info(r, p)))
}

fn add_subnet_interface(
    d: &mut NetworkData,
    c: &Caller,
    router_id: &str,
    project: &str,
    subnet_id: &str,
) -> Result<String, ApiError> {
    let s = subnets::find(d, c, subnet_id)?;
    let Some(gateway) = s.gateway_ip else {
        return Err(bad_router(
            "Subnet for router interface must have a gateway IP",
        ));
    };
    if interfaces(d, router_id).any(|p| p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id)) {
        return Err(bad_router(format!(
            "Router already has a port on subnet {subnet_id}"
        )));
    }
    let network_id = s.network_id.clone();
    d.create_interface_port(router_id, project, &network_id, subnet_id, gateway)
        .map(|id| id.to_string())
        .map_err(|e| e.neutron())
}

fn add_port_interface(
    d: &mut NetworkData,
    c: &Caller,
    router_id: &str,
    port_id: &str,
) -> Result<String, ApiError> {
    let p = ports::find(d, c, port_id)?;
    if !c.owns(&p.project_id) {
        return Err(policy_denied("rule:add_router_interface"));
    }
    if !p.device_id.is_empty() {
        return Err(neutron_error(
            409,
            "PortInUse",
            format!(
                "Unable to complete operation on port {port_id} for network {}. Port already has an attached device {}.",
                p.network_id, p.device_id
            ),
        ));
    }
    if p.fixed_ips.is_empty() {
        return Err(bad_router("Router port must have at least one fixed IP"));
    }
    let subnet_ids: Vec<Sid> = p.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
    if let Some(sid) = subnet_ids.iter().find(|sid| {
        interfaces(d, router_id).any(|q| q.fixed_ips.iter().any(|f| &f.subnet_id == *sid))
    }) {
        return Err(bad_router(format!(
            "Router already has a port on subnet {sid}"
        )));
    }
    d.set_device(port_id, router_id, OWNER_ROUTER_INTERFACE, "");
    if let Some(p) = d.ports.get_mut(port_id) {
        p.security_groups.clear();
        p.port_security_enabled = false;
    }
    Ok(port_id.to_string())
}

/// True when a floating IP reaches a port on `subnet_id` through this router.
fn interface_in_use(d: &NetworkData, router_id: &str, subnet_ids: &[Sid]) -> bool {
    d.floating_ips.values().any(|f| {
        f.router_id.as_deref() == Some(router_id)
            && f.port_id
                .as_ref()
                .and_then(|p| d.ports.get(p.as_str()))
                .is_some_and(|p| {
                    p.fixed_ips
                        .iter()
                        .any(|ip| subnet_ids.contains(&ip.subnet_id))
                })
    })
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`.
pub async fn remove_interface(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("remove_router_interface")?;
    let which = interface_ref(&body)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let router = find(d, &c, &id)?.clone();
    let port = match &which {
        InterfaceRef::Subnet(sid) => {
            subnets::find(d, &c, sid)?;
            interfaces(d, &id)
                .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
                .cloned()
                .ok_or_else(|| {
                    neutron_error(
                        404,
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {id} has no interface on subnet {sid}"),
                    )
                })?
        }
        InterfaceRef::Port(pid) => interfaces(d, &id)
            .find(|p| &p.id == pid)
            .cloned()
            .ok_or_else(|| {
                neutron_error(
                    404,
                    "RouterInterfaceNotFound",
                    format!("Router {id} does not have an interface with id {pid}"),
                )
            })?,
    };
    let subnet_ids: Vec<Sid> = port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
    if interface_in_use(d, &id, &subnet_ids) {
        let sid = subnet_ids.first().cloned().unwrap_or_default();
        return Err(neutron_error(
            409,
            "RouterInterfaceInUseByFloatingIP",
            format!("Router interface for subnet {sid} on router {id} cannot be deleted, as it is required by one or more floating IPs."),
        ));
    }
    let answer = interface_info(&router, &port);
    d.remove_port(&port.id);
    if let Some(r) = d.routers.get_mut(&id) {
        r.std.touch();
    }
    Ok(ok(answer))
}
