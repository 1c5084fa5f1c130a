//! `/v2.0/ports`: every fixed IP and MAC of a top port is allocated at the top; the site
//! port is created with exactly those when a server (or floating IP) on a site needs it.

use super::doc::{self, attrs, bool_attr, check_known, find, owns, string_attr};
use super::ipam::{self, SubnetPlan};
use super::{groups, networks, neutron_error, policy_denied, remote_groups, sites, store_err, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::ApiError;
use fedstack_store::networks::{net_kind, NetResource};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// Marks a port the top created for a server (deleted with it, as Nova does); not shown.
const CREATED_FOR_SERVER: &str = "fedstack:created_for_server";

const ATTRS: &[&str] = &[
    "name",
    "network_id",
    "fixed_ips",
    "mac_address",
    "security_groups",
    "admin_state_up",
    "description",
    "device_id",
    "device_owner",
    "port_security_enabled",
    "tags",
    "project_id",
    "tenant_id",
    "binding:vnic_type",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "dns_name",
];

/// Neutron's 404 for a port.
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "PortNotFound",
        format!("Port {id} could not be found."),
    )
}

/// A port as Neutron shows it.
pub fn view(p: &NetResource) -> Value {
    let mut v = p.body.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(CREATED_FOR_SERVER);
    }
    v
}

/// True when the top made the port for a server (and deletes it with the server).
pub fn created_for_server(p: &NetResource) -> bool {
    p.body[CREATED_FOR_SERVER] == true
}

/// A port the caller may see.
pub async fn visible(c: &Caller, id: &str) -> Result<NetResource, ApiError> {
    find(c, net_kind::PORT, id, || not_found(id)).await
}

/// A requested fixed IP: `(subnet_id, ip_address)`, either may be absent.
pub type IpRequest = (Option<String>, Option<IpAddr>);

/// What a new top port is made of.
pub struct NewPort {
    pub project_id: String,
    pub network: NetResource,
    pub attrs: Map<String, Value>,
    /// `(subnet_id, ip_address)` requests; None: one address from each IP version.
    pub fixed_ips: Option<Vec<IpRequest>>,
    pub mac: Option<String>,
    /// Security group IDs; None: the project's default group (when port security is on).
    pub security_groups: Option<Vec<String>>,
    pub for_server: bool,
}

fn invalid_ip(ip: IpAddr, subnet: bool) -> ApiError {
    let (kind, what) = if subnet {
        ("InvalidIpForSubnet", "the specified subnet")
    } else {
        (
            "InvalidIpForNetwork",
            "any of the subnets on the specified network",
        )
    };
    neutron_error(
        StatusCode::BAD_REQUEST,
        kind,
        format!("IP address {ip} is not a valid IP for {what}."),
    )
}

/// Creates a top port: addresses and MAC from the central IPAM, then the record. Nothing is
/// held when it fails.
pub async fn create_port(top: &Top, p: NewPort) -> Result<NetResource, ApiError> {
    let net_id = p.network.id.clone();
    let subnets = top
        .store
        .net_resources(net_kind::SUBNET, None, Some(&net_id))
        .await
        .map_err(store_err)?;
    let plans: Vec<SubnetPlan> = subnets
        .iter()
        .filter_map(|s| SubnetPlan::of(&s.body))
        .collect();
    let mut wanted: Vec<(&SubnetPlan, Option<IpAddr>)> = vec![];
    match &p.fixed_ips {
        Some(reqs) => {
            for (subnet_id, ip) in reqs {
                let plan = match (subnet_id, ip) {
                    (Some(sid), _) => {
                        let plan = plans.iter().find(|pl| &pl.id == sid).ok_or_else(|| {
                            super::invalid_input(format!("Failed to create port on network {net_id}, because fixed_ips included invalid subnet {sid}."))
                        })?;
                        if let Some(ip) = ip.filter(|ip| !plan.holds(*ip)) {
                            return Err(invalid_ip(ip, true));
                        }
                        plan
                    }
                    (None, Some(ip)) => plans
                        .iter()
                        .find(|pl| pl.holds(*ip))
                        .ok_or_else(|| invalid_ip(*ip, false))?,
                    (None, None) => {
                        return Err(super::invalid_input(
                            "Exceeded maximum amount of fixed ips per port.",
                        ))
                    }
                };
                wanted.push((plan, *ip));
            }
        }
        None => {
            for version in [4, 6] {
                if let Some(plan) = plans
                    .iter()
                    .find(|pl| (pl.cidr.addr().is_ipv4()) == (version == 4))
                {
                    wanted.push((plan, None));
                }
            }
        }
    }
    let port_id = uuid::Uuid::new_v4().to_string();
    let mut fixed = vec![];
    for (plan, ip) in wanted {
        match ipam::allocate(top, plan, &net_id, &port_id, ip).await {
            Ok(ip) => fixed.push(json!({"subnet_id": plan.id, "ip_address": ip.to_string()})),
            Err(e) => {
                release_held(top, &port_id).await;
                return Err(e);
            }
        }
    }
    let mac = match ipam::allocate_mac(top, &net_id, &port_id, p.mac.as_deref()).await {
        Ok(m) => m,
        Err(e) => {
            release_held(top, &port_id).await;
            return Err(e);
        }
    };
    let mut a = p.attrs;
    let port_security = a
        .get("port_security_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(p.network.body["port_security_enabled"] != false);
    let groups = match p.security_groups {
        Some(g) => g,
        None if port_security => match groups::default_group(top, &p.project_id).await {
            Ok(g) => vec![g],
            Err(e) => {
                release_held(top, &port_id).await;
                return Err(e);
            }
        },
        None => vec![],
    };
    a.insert("network_id".into(), json!(net_id));
    a.insert("fixed_ips".into(), json!(fixed));
    a.insert("mac_address".into(), json!(mac));
    a.insert("security_groups".into(), json!(groups));
    a.insert("port_security_enabled".into(), json!(port_security));
    for (k, v) in [
        ("admin_state_up", json!(true)),
        ("device_id", json!("")),
        ("device_owner", json!("")),
        ("binding:vnic_type", json!("normal")),
        ("allowed_address_pairs", json!([])),
        ("extra_dhcp_opts", json!([])),
        ("dns_name", json!("")),
    ] {
        a.entry(k).or_insert(v);
    }
    let status = if a["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
        "ACTIVE"
    } else {
        "DOWN"
    };
    a.insert("status".into(), json!(status));
    a.insert(CREATED_FOR_SERVER.into(), json!(p.for_server));
    for k in ["tenant_id", "project_id"] {
        a.remove(k);
    }
    let mut r = doc::new_resource(net_kind::PORT, &p.project_id, Some(&net_id), a);
    r.id = port_id.clone();
    r.body["id"] = json!(port_id);
    if let Err(e) = crate::quota::network::insert_counted(top, &r).await {
        release_held(top, &port_id).await;
        return Err(e);
    }
    Ok(r)
}

/// Frees what a port that could not be made held.
async fn release_held(top: &Top, port_id: &str) {
    let _ = top.store.release_ips(port_id, None).await;
    let _ = top.store.release_mac(port_id).await;
}

/// The `fixed_ips` of a request: `(subnet_id, ip_address)` pairs.
fn fixed_ip_requests(a: &Map<String, Value>) -> Result<Option<Vec<IpRequest>>, ApiError> {
    let Some(v) = a.get("fixed_ips") else {
        return Ok(None);
    };
    let items = v.as_array().ok_or_else(|| {
        super::bad_request(format!(
            "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{v}'."
        ))
    })?;
    items
        .iter()
        .map(|i| {
            let subnet = i.get("subnet_id").and_then(Value::as_str).map(String::from);
            let ip = match i.get("ip_address") {
                None => None,
                Some(s) => Some(s.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    super::bad_request(format!(
                        "Invalid input for fixed_ips. Reason: '{s}' is not a valid IP address."
                    ))
                })?),
            };
            Ok((subnet, ip))
        })
        .collect::<Result<Vec<_>, ApiError>>()
        .map(Some)
}

pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let a = attrs(&body, "port")?;
    check_known(&a, ATTRS)?;
    let network_id = string_attr(&a, "network_id")?.ok_or_else(|| {
        super::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    string_attr(&a, "name")?;
    bool_attr(&a, "admin_state_up")?;
    bool_attr(&a, "port_security_enabled")?;
    let project = doc::target_project(&c, &a)?;
    let network = networks::visible(&c, &network_id).await?;
    let net_owner = owns(&c, &network);
    let mac = string_attr(&a, "mac_address")?;
    if let Some(m) = &mac {
        if !ipam::is_mac(m) {
            return Err(super::bad_request(format!(
                "Invalid input for mac_address. Reason: '{m}' is not a valid MAC address."
            )));
        }
        if !net_owner {
            return Err(policy_denied(
                "(rule:create_port and rule:create_port:mac_address)",
            ));
        }
    }
    let fixed_ips = fixed_ip_requests(&a)?;
    if fixed_ips.iter().flatten().any(|(_, ip)| ip.is_some()) && !net_owner {
        return Err(policy_denied(
            "(rule:create_port and rule:create_port:fixed_ips:ip_address)",
        ));
    }
    let security_groups = match a.get("security_groups") {
        None => None,
        Some(v) => Some(groups::resolve(&c, &project, v).await?),
    };
    let mut attrs = a.clone();
    for k in ["fixed_ips", "mac_address", "security_groups", "network_id"] {
        attrs.remove(k);
    }
    let p = create_port(
        &c.top,
        NewPort {
            project_id: project,
            network,
            attrs,
            fixed_ips,
            mac,
            security_groups,
            for_server: false,
        },
    )
    .await?;
    tracing::info!(port = %p.id, network = %network_id, "top port created");
    Ok((StatusCode::CREATED, Json(json!({"port": view(&p)}))).into_response())
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let network = pairs
        .iter()
        .find(|(k, _)| k == "network_id")
        .map(|(_, v)| v.as_str());
    let mut all = c
        .top
        .store
        .net_resources(net_kind::PORT, None, network)
        .await
        .map_err(store_err)?;
    all.retain(|p| owns(&c, p));
    Ok(doc::list_answer(&c, "ports", all, &pairs, view))
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let p = visible(&c, &id).await?;
    if !owns(&c, &p) {
        return Err(not_found(&id));
    }
    Ok(Json(json!({"port": doc::with_fields(view(&p), &pairs)})).into_response())
}

pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut p = visible(&c, &id).await?;
    if !owns(&c, &p) {
        return Err(not_found(&id));
    }
    let mut a = attrs(&body, "port")?;
    check_known(
        &a,
        &[
            "name",
            "description",
            "admin_state_up",
            "security_groups",
            "port_security_enabled",
            "device_id",
            "device_owner",
            "dns_name",
        ],
    )?;
    string_attr(&a, "name")?;
    bool_attr(&a, "admin_state_up")?;
    bool_attr(&a, "port_security_enabled")?;
    let mut site_changes: Map<String, Value> = a
        .iter()
        .filter(|(k, _)| {
            [
                "name",
                "description",
                "admin_state_up",
                "port_security_enabled",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(v) = a.get("security_groups").cloned() {
        let ids = groups::resolve(&c, &p.project_id, &v).await?;
        a.insert("security_groups".into(), json!(ids));
        for piece in c
            .top
            .store
            .pieces(net_kind::PORT, &id)
            .await
            .map_err(store_err)?
        {
            let Some(site) = c.top.sites.get(&piece.site_id) else {
                continue;
            };
            let site_project = crate::tenancy::site_project(
                &c.top,
                &site,
                &p.project_id,
                fedstack_api_types::Service::Network,
            )
            .await?;
            let mut site_groups = vec![];
            for g in &ids {
                site_groups.push(groups::ensure_on_site(&c.top, &site, &site_project, g).await?);
            }
            site_changes.insert("security_groups".into(), json!(site_groups));
        }
    }
    let before = remote_groups::groups_of(&p.body);
    doc::apply(&mut p, &a);
    c.top
        .store
        .update_net_resource(&p)
        .await
        .map_err(store_err)?;
    sites::update_pieces(&c.top, net_kind::PORT, "ports", &id, "port", site_changes).await;
    let mut touched = remote_groups::groups_of(&p.body);
    touched.retain(|g| !before.contains(g));
    touched.extend(before.into_iter().filter(|g| {
        !p.body["security_groups"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x == g.as_str()))
    }));
    remote_groups::members_changed(&c.top, &touched).await;
    Ok(Json(json!({"port": view(&p)})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let p = visible(&c, &id).await?;
    if !owns(&c, &p) {
        return Err(not_found(&id));
    }
    if super::routers::is_interface(&p) {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "L3PortInUse",
            format!("Port {id} cannot be deleted directly via the port API: has device owner network:router_interface."),
        ));
    }
    delete_port(&c.top, &p).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a top port: its site port, its addresses and MAC, its record; floating IPs on
/// it are disassociated (the site did the same with the site port).
pub async fn delete_port(top: &Top, p: &NetResource) -> Result<(), ApiError> {
    let placed = !top
        .store
        .pieces(net_kind::PORT, &p.id)
        .await
        .map_err(store_err)?
        .is_empty();
    sites::delete_pieces(top, net_kind::PORT, "ports", &p.id).await?;
    let fips = top
        .store
        .net_resources(net_kind::FLOATINGIP, Some(&p.project_id), None)
        .await
        .map_err(store_err)?;
    for mut f in fips
        .into_iter()
        .filter(|f| f.body["port_id"] == p.id.as_str())
    {
        let changes: Map<String, Value> = [
            ("port_id", Value::Null),
            ("fixed_ip_address", Value::Null),
            ("router_id", Value::Null),
            ("status", json!("DOWN")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        doc::apply(&mut f, &changes);
        top.store.update_net_resource(&f).await.map_err(store_err)?;
    }
    top.store
        .release_ips(&p.id, None)
        .await
        .map_err(store_err)?;
    top.store.release_mac(&p.id).await.map_err(store_err)?;
    top.store
        .delete_net_resource(net_kind::PORT, &p.id)
        .await
        .map_err(store_err)?;
    if placed {
        remote_groups::members_changed(top, &remote_groups::groups_of(&p.body)).await;
    }
    Ok(())
}

/// The site port of a top port on `site`, created with exactly the port's fixed IPs and MAC
/// (its network, subnets and security groups are made there first if needed).
pub async fn ensure_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    p: &NetResource,
) -> Result<String, ApiError> {
    let pieces = top
        .store
        .pieces(net_kind::PORT, &p.id)
        .await
        .map_err(store_err)?;
    if let Some(other) = pieces.iter().find(|x| x.site_id != site.id()) {
        let name = top
            .sites
            .get(&other.site_id)
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "PortInUse",
            format!("Port {} is on site {name}.", p.id),
        ));
    }
    make_on_site(top, site, site_project, p).await
}

/// The site port of a top port on `site`, made like [`ensure_on_site`] makes it but whether
/// or not the port has a piece on another site: a cold migration holds the port on both
/// sites until its switch.
pub async fn make_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    p: &NetResource,
) -> Result<String, ApiError> {
    let net = top
        .store
        .net_resource(
            net_kind::NETWORK,
            p.parent_id.as_deref().unwrap_or_default(),
        )
        .await
        .map_err(store_err)?
        .ok_or_else(|| networks::not_found(""))?;
    let site_net = sites::ensure_network(top, site, site_project, &net).await?;
    let mut fixed = vec![];
    for f in p.body["fixed_ips"].as_array().into_iter().flatten() {
        let sid = f["subnet_id"].as_str().unwrap_or_default();
        let subnet = top
            .store
            .net_resource(net_kind::SUBNET, sid)
            .await
            .map_err(store_err)?
            .ok_or_else(|| super::subnets::not_found(sid))?;
        let site_subnet = sites::ensure_subnet(top, site, site_project, &net, &subnet).await?;
        super::routers::follow_subnet(top, site, site_project, sid).await?;
        fixed.push(json!({"subnet_id": site_subnet, "ip_address": f["ip_address"]}));
    }
    let mut site_groups = vec![];
    for g in p.body["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        site_groups.push(groups::ensure_on_site(top, site, site_project, g).await?);
    }
    let placed = top
        .store
        .pieces(net_kind::PORT, &p.id)
        .await
        .map_err(store_err)?
        .iter()
        .any(|x| x.site_id == site.id() && x.site_resource_id.is_some());
    let site_port = sites::ensure_piece(top, net_kind::PORT, &p.id, site, || async {
        let mut body = json!({"network_id": site_net, "fixed_ips": fixed, "mac_address": p.body["mac_address"],
            "name": p.body["name"], "description": format!("fedstack: top port {}", p.id),
            "admin_state_up": p.body["admin_state_up"], "port_security_enabled": p.body["port_security_enabled"]});
        if p.body["port_security_enabled"] != false {
            body["security_groups"] = json!(site_groups);
        }
        let r = sites::call(site, Method::POST, "/ports".into(), Some(site_project), Some(json!({ "port": body }))).await?;
        sites::id_of(site, &r["port"])
    })
    .await?;
    if !placed {
        remote_groups::members_changed(top, &remote_groups::groups_of(&p.body)).await;
    }
    Ok(site_port)
}
