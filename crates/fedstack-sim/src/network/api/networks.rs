//! `/v2.0/networks`.

use super::body::Attrs;
use super::query::ListQuery;
use super::{
    bad_request, collection_url, created, invalid_input, no_content, set, shown, Caller, Pairs, Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{Network, Resource, Sid};
use crate::network::ops::{neutron_error, over_quota, NewNetwork, TENANT_MTU};
use crate::network::NetworkData;
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use serde_json::{json, Value};

/// Every attribute of a network.
pub const ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "mtu",
    "status",
    "subnets",
    "shared",
    "availability_zone_hints",
    "availability_zones",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "router:external",
    "qinq",
    "vlan_transparent",
    "description",
    "port_security_enabled",
    "is_default",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

const POST: &[&str] = &[
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "mtu",
    "shared",
    "availability_zone_hints",
    "router:external",
    "qinq",
    "vlan_transparent",
    "description",
    "port_security_enabled",
    "is_default",
    "tags",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

const PUT: &[&str] = &[
    "name",
    "admin_state_up",
    "mtu",
    "shared",
    "router:external",
    "description",
    "port_security_enabled",
    "is_default",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

/// Attributes only admins may set.
const ADMIN_ONLY: &[&str] = &[
    "shared",
    "router:external",
    "is_default",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

/// A network as the caller sees it (`created`: the create answer also shows `is_default`).
pub fn view(n: &Network, admin: bool, created: bool) -> Value {
    let mut v = json!({
        "id": n.id, "name": n.name, "tenant_id": n.project_id, "project_id": n.project_id,
        "admin_state_up": n.admin_state_up, "mtu": n.mtu, "status": "ACTIVE",
        "subnets": n.subnets, "shared": n.shared,
        "availability_zone_hints": n.az_hints, "availability_zones": [],
        "ipv4_address_scope": null, "ipv6_address_scope": null,
        "router:external": n.external, "qinq": false, "vlan_transparent": false,
        "description": n.std.description, "port_security_enabled": n.port_security_enabled,
    });
    if n.external || created {
        v["is_default"] = json!(n.is_default);
    }
    v["tags"] = json!(n.std.tags);
    v["created_at"] = json!(time::iso_z(n.std.created_at));
    v["updated_at"] = json!(time::iso_z(n.std.updated_at));
    v["revision_number"] = json!(n.std.revision);
    if admin {
        v["provider:network_type"] = json!("vxlan");
        v["provider:physical_network"] = Value::Null;
        v["provider:segmentation_id"] = json!(n.segmentation_id);
    }
    v
}

/// `NetworkNotFound` (404).
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "NetworkNotFound",
        format!("Network {id} could not be found."),
    )
}

/// True when the caller may see the network: its own, shared or external ones.
pub fn visible(c: &Caller, n: &Network) -> bool {
    c.owns(&n.project_id) || n.shared || n.external
}

/// A network the caller may see.
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a Network, ApiError> {
    d.networks
        .get(id)
        .filter(|n| visible(c, n))
        .ok_or_else(|| not_found(id))
}

/// A network a port or subnet of `project` may be created on: Neutron answers a bare 404
/// for another project's network unless it is shared (even when the caller sees it).
pub fn find_for_child<'a>(
    d: &'a NetworkData,
    c: &Caller,
    id: &str,
    project: &str,
) -> Result<&'a Network, ApiError> {
    let n = find(d, c, id)?;
    if !c.admin && !n.shared && n.project_id != project {
        return Err(neutron_error(
            404,
            "HTTPNotFound",
            "The resource could not be found.",
        ));
    }
    Ok(n)
}

/// A network the caller may change (`action` names the policy rule when it only sees it).
fn find_owned<'a>(
    d: &'a NetworkData,
    c: &Caller,
    id: &str,
    action: &str,
) -> Result<&'a Network, ApiError> {
    let n = find(d, c, id)?;
    if !c.owns(&n.project_id) {
        return Err(super::policy_denied(&format!("rule:{action}")));
    }
    Ok(n)
}

fn check_admin_attrs(c: &Caller, a: &Attrs, action: &str) -> Result<(), ApiError> {
    match ADMIN_ONLY.iter().find(|k| a.has(k)) {
        Some(k) => c.require_admin_attr(action, k),
        None => Ok(()),
    }
}

fn check_mtu(mtu: Option<i64>) -> Result<Option<u32>, ApiError> {
    match mtu {
        None => Ok(None),
        Some(m) if m > TENANT_MTU as i64 => Err(invalid_input(format!(
            "Requested MTU is too big, maximum is {TENANT_MTU}."
        ))),
        Some(m) if m < 68 => Err(bad_request(format!(
            "Invalid input for mtu. Reason: '{m}' is too small - must be at least '68'."
        ))),
        Some(m) => Ok(Some(m as u32)),
    }
}

/// `GET /v2.0/networks`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "networks");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let body = q.answer("networks", &url, d.networks.keys(), |id| {
        d.networks
            .get(id)
            .filter(|n| visible(&c, n))
            .map(|n| view(n, c.admin, false))
    });
    Ok(super::ok(body))
}

/// `GET /v2.0/networks/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let n = find(&g.network, &c, &id)?;
    Ok(shown("network", view(n, c.admin, false), &pairs))
}

/// `POST /v2.0/networks`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "network")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_network")?;
    check_admin_attrs(&c, &a, "create_network")?;
    let spec = NewNetwork {
        project_id: c.target_project(&a)?,
        name: a.string("name")?.unwrap_or_default(),
        description: a.string("description")?.unwrap_or_default(),
        admin_state_up: a.boolean("admin_state_up")?.unwrap_or(true),
        shared: a.boolean("shared")?.unwrap_or(false),
        external: a.boolean("router:external")?.unwrap_or(false),
        is_default: a.boolean("is_default")?.unwrap_or(false),
        port_security_enabled: a.boolean("port_security_enabled")?.unwrap_or(true),
        mtu: check_mtu(a.integer("mtu")?)?.unwrap_or(TENANT_MTU),
        az_hints: a.strings("availability_zone_hints")?.unwrap_or_default(),
        tags: a.strings("tags")?.unwrap_or_default(),
    };
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    if !d.has_room(&spec.project_id, Resource::Network, 1) {
        return Err(over_quota(Resource::Network));
    }
    let id = d.insert_network(spec);
    let n = find(d, &c, &id)?;
    Ok(created(json!({"network": view(n, c.admin, true)})))
}

/// `PUT /v2.0/networks/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "network")?;
    a.check(ATTRS, PUT, false)?;
    let name = a.string("name")?;
    let description = a.string("description")?;
    let admin_state_up = a.boolean("admin_state_up")?;
    let shared = a.boolean("shared")?;
    let external = a.boolean("router:external")?;
    let is_default = a.boolean("is_default")?;
    let port_security = a.boolean("port_security_enabled")?;
    let mtu = check_mtu(a.integer("mtu")?)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    find_owned(d, &c, &id, "update_network")?;
    c.require_member("update_network")?;
    check_admin_attrs(&c, &a, "update_network")?;
    let Some(n) = d.networks.get_mut(id.as_str()) else {
        return Err(not_found(&id));
    };
    set(&mut n.name, name);
    set(&mut n.std.description, description);
    set(&mut n.admin_state_up, admin_state_up);
    set(&mut n.shared, shared);
    set(&mut n.external, external);
    set(&mut n.is_default, is_default);
    set(&mut n.port_security_enabled, port_security);
    set(&mut n.mtu, mtu);
    n.std.touch();
    Ok(super::ok(json!({"network": view(n, c.admin, false)})))
}

/// `DELETE /v2.0/networks/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let n = find_owned(d, &c, &id, "delete_network")?;
    c.require_member("delete_network")?;
    if !n.ports.is_empty() {
        let ids: Vec<&str> = n.ports.iter().map(Sid::as_str).collect();
        return Err(neutron_error(
            409,
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network, id for these ports is: {}.",
                ids.join(", ")
            ),
        ));
    }
    d.remove_network(&id);
    Ok(no_content())
}
