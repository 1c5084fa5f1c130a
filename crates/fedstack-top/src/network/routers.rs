//! `/v2.0/routers`: kept at the top; a router is made on a site (with its gateway on the
//! site's external network, and an interface on each of its subnets there) when a subnet
//! it serves is on that site. Every site answers with the subnet's gateway address, the top
//! one, so a subnet stretched over sites keeps one gateway.

use super::doc::{self, attrs, bool_attr, check_known, find, owns, string_attr};
use super::ports::{self, NewPort};
use super::{invalid_input, networks, neutron_error, sites, store_err, subnets, Res};
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

/// `device_owner` of a router's interface on a subnet.
const OWNER_INTERFACE: &str = "network:router_interface";
/// Site pieces of a router interface port (one per site: each site has its gateway).
const INTERFACE_PIECE: &str = "router_interface";

fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "RouterNotFound",
        format!("Router {id} could not be found"),
    )
}

/// The gateway of a create/update: `{network_id, enable_snat, external_fixed_ips}` on a top
/// external network, or null.
/// `enable_snat` is an admin's to set, as in Neutron's policy.
async fn gateway(
    c: &Caller,
    a: &Map<String, Value>,
    action: &str,
) -> Result<Option<Value>, ApiError> {
    let Some(g) = a.get("external_gateway_info") else {
        return Ok(None);
    };
    if g.is_null() || g.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(Some(Value::Null));
    }
    let net_id = g["network_id"].as_str().ok_or_else(|| super::bad_request("Invalid input for external_gateway_info. Reason: Validation of dictionary's keys failed. Expected keys: {'network_id'}."))?;
    let net = networks::visible(c, net_id).await?;
    if net.body["router:external"] != true {
        return Err(neutron_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Bad router request: Network {net_id} is not an external network."),
        ));
    }
    if g.get("enable_snat").is_some() && !c.is_admin() {
        return Err(super::policy_denied(&format!(
            "(rule:{action} and rule:{action}:external_gateway_info:enable_snat)"
        )));
    }
    let snat = g
        .get("enable_snat")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok(Some(
        json!({"network_id": net_id, "enable_snat": snat, "external_fixed_ips": []}),
    ))
}

/// The interfaces (top ports) of a router.
async fn interfaces(top: &Top, router_id: &str) -> Result<Vec<NetResource>, ApiError> {
    let ports = top
        .store
        .net_resources(net_kind::PORT, None, None)
        .await
        .map_err(store_err)?;
    Ok(ports
        .into_iter()
        .filter(|p| p.body["device_id"] == router_id && p.body["device_owner"] == OWNER_INTERFACE)
        .collect())
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let all = c
        .top
        .store
        .net_resources(net_kind::ROUTER, None, None)
        .await
        .map_err(store_err)?;
    Ok(doc::list_answer(&c, "routers", all, &pairs, |r| {
        r.body.clone()
    }))
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let r = find(&c, net_kind::ROUTER, &id, || not_found(&id)).await?;
    Ok(Json(json!({"router": doc::with_fields(r.body, &pairs)})).into_response())
}

pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let mut a = attrs(&body, "router")?;
    check_known(
        &a,
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "description",
            "tags",
            "project_id",
            "tenant_id",
            "availability_zone_hints",
            "distributed",
            "ha",
        ],
    )?;
    string_attr(&a, "name")?;
    let project = doc::target_project(&c, &a)?;
    let gw = gateway(&c, &a, "create_router")
        .await?
        .unwrap_or(Value::Null);
    a.insert("external_gateway_info".into(), gw);
    a.insert(
        "admin_state_up".into(),
        json!(bool_attr(&a, "admin_state_up")?.unwrap_or(true)),
    );
    for (k, v) in [
        ("status", json!("ACTIVE")),
        ("routes", json!([])),
        ("availability_zone_hints", json!([])),
        ("availability_zones", json!([])),
        ("distributed", json!(false)),
        ("ha", json!(false)),
        ("flavor_id", Value::Null),
    ] {
        a.entry(k).or_insert(v);
    }
    a.remove("project_id");
    a.remove("tenant_id");
    let r = doc::new_resource(net_kind::ROUTER, &project, None, a);
    crate::quota::network::insert_counted(&c.top, &r).await?;
    Ok((StatusCode::CREATED, Json(json!({"router": r.body}))).into_response())
}

pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut r = find(&c, net_kind::ROUTER, &id, || not_found(&id)).await?;
    if !owns(&c, &r) {
        return Err(not_found(&id));
    }
    let mut a = attrs(&body, "router")?;
    check_known(
        &a,
        &[
            "name",
            "admin_state_up",
            "external_gateway_info",
            "description",
            "routes",
        ],
    )?;
    if a.get("routes")
        .is_some_and(|v| v.as_array().is_none_or(|l| !l.is_empty()))
    {
        return Err(invalid_input(
            "static routes are not supported by this cloud",
        ));
    }
    bool_attr(&a, "admin_state_up")?;
    if let Some(gw) = gateway(&c, &a, "update_router").await? {
        a.insert("external_gateway_info".into(), gw);
    }
    doc::apply(&mut r, &a);
    c.top
        .store
        .update_net_resource(&r)
        .await
        .map_err(store_err)?;
    for p in c
        .top
        .store
        .pieces(net_kind::ROUTER, &id)
        .await
        .map_err(store_err)?
    {
        let (Some(site), Some(site_router)) = (c.top.sites.get(&p.site_id), p.site_resource_id)
        else {
            continue;
        };
        let site_project = crate::tenancy::site_project(
            &c.top,
            &site,
            &r.project_id,
            fedstack_api_types::Service::Network,
        )
        .await?;
        let mut changes: Map<String, Value> = a
            .iter()
            .filter(|(k, _)| ["name", "admin_state_up"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if a.contains_key("external_gateway_info") {
            changes.insert(
                "external_gateway_info".into(),
                site_gateway(&c.top, &site, &site_project, &r).await?,
            );
        }
        sites::call(
            &site,
            Method::PUT,
            format!("/routers/{site_router}"),
            Some(&site_project),
            Some(json!({"router": changes})),
        )
        .await?;
    }
    Ok(Json(json!({"router": r.body})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let r = find(&c, net_kind::ROUTER, &id, || not_found(&id)).await?;
    if !owns(&c, &r) {
        return Err(not_found(&id));
    }
    if !interfaces(&c.top, &id).await?.is_empty() {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "RouterInUse",
            format!("Router {id} still has ports"),
        ));
    }
    sites::delete_pieces(&c.top, net_kind::ROUTER, "routers", &id).await?;
    c.top
        .store
        .delete_net_resource(net_kind::ROUTER, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn add_interface(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut r = find(&c, net_kind::ROUTER, &id, || not_found(&id)).await?;
    if !owns(&c, &r) {
        return Err(not_found(&id));
    }
    let port = match (
        body.get("subnet_id").and_then(Value::as_str),
        body.get("port_id").and_then(Value::as_str),
    ) {
        (Some(_), Some(_)) => {
            return Err(super::bad_request(
                "Bad router request: Cannot specify both subnet-id and port-id.",
            ))
        }
        (Some(subnet_id), None) => {
            let subnet = find(&c, net_kind::SUBNET, subnet_id, || {
                subnets::not_found(subnet_id)
            })
            .await?;
            let Some(gw) = subnet.body["gateway_ip"]
                .as_str()
                .and_then(|g| g.parse().ok())
            else {
                return Err(neutron_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Bad router request: Subnet for router interface must have a gateway IP.",
                ));
            };
            let net_id = subnet.parent_id.clone().unwrap_or_default();
            if interfaces(&c.top, &id)
                .await?
                .iter()
                .any(|p| p.body["fixed_ips"][0]["subnet_id"] == subnet_id)
            {
                return Err(neutron_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("Bad router request: Router already has a port on subnet {subnet_id}."),
                ));
            }
            let network = networks::visible(&c, &net_id).await?;
            let mut attrs = Map::new();
            attrs.insert("device_id".into(), json!(id));
            attrs.insert("device_owner".into(), json!(OWNER_INTERFACE));
            attrs.insert("port_security_enabled".into(), json!(false));
            let new = NewPort {
                project_id: r.project_id.clone(),
                network,
                attrs,
                fixed_ips: Some(vec![(Some(subnet_id.to_string()), Some(gw))]),
                mac: None,
                security_groups: Some(vec![]),
                for_server: false,
            };
            ports::create_port(&c.top, new).await?
        }
        (None, Some(port_id)) => {
            let mut p = ports::visible(&c, port_id).await?;
            if p.body["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
                return Err(neutron_error(StatusCode::CONFLICT, "PortInUse", format!("Unable to complete operation on port {port_id} for network {}. Port already has an attached device {}.", p.parent_id.as_deref().unwrap_or_default(), p.body["device_id"].as_str().unwrap_or_default())));
            }
            let changes: Map<String, Value> = [
                ("device_id", json!(id)),
                ("device_owner", json!(OWNER_INTERFACE)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            doc::apply(&mut p, &changes);
            c.top
                .store
                .update_net_resource(&p)
                .await
                .map_err(store_err)?;
            p
        }
        (None, None) => {
            return Err(super::bad_request(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ))
        }
    };
    for subnet_id in port.body["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["subnet_id"].as_str())
    {
        for piece in c
            .top
            .store
            .pieces(net_kind::SUBNET, subnet_id)
            .await
            .map_err(store_err)?
        {
            if let Some(site) = c.top.sites.get(&piece.site_id) {
                let site_project = crate::tenancy::site_project(
                    &c.top,
                    &site,
                    &r.project_id,
                    fedstack_api_types::Service::Network,
                )
                .await?;
                interface_on_site(&c.top, &site, &site_project, &r, &port).await?;
            }
        }
    }
    doc::apply(&mut r, &Map::new());
    c.top
        .store
        .update_net_resource(&r)
        .await
        .map_err(store_err)?;
    let subnet_ids: Vec<Value> = port.body["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["subnet_id"].clone())
        .collect();
    Ok(Json(json!({"id": id, "tenant_id": r.project_id, "project_id": r.project_id, "port_id": port.id, "network_id": port.parent_id, "subnet_id": subnet_ids.first(), "subnet_ids": subnet_ids})).into_response())
}

pub async fn remove_interface(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut r = find(&c, net_kind::ROUTER, &id, || not_found(&id)).await?;
    if !owns(&c, &r) {
        return Err(not_found(&id));
    }
    let subnet = body.get("subnet_id").and_then(Value::as_str);
    let port_id = body.get("port_id").and_then(Value::as_str);
    let port = interfaces(&c.top, &id)
        .await?
        .into_iter()
        .find(|p| {
            port_id.is_some_and(|x| p.id == x)
                || subnet.is_some_and(|s| {
                    p.body["fixed_ips"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f["subnet_id"] == s))
                })
        })
        .ok_or_else(|| match (port_id, subnet) {
            (Some(p), _) => neutron_error(
                StatusCode::NOT_FOUND,
                "RouterInterfaceNotFound",
                format!("Router {id} does not have an interface with id {p}"),
            ),
            (None, Some(s)) => neutron_error(
                StatusCode::NOT_FOUND,
                "RouterInterfaceNotFoundForSubnet",
                format!("Router {id} has no interface on subnet {s}"),
            ),
            _ => super::bad_request(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ),
        })?;
    for piece in c
        .top
        .store
        .pieces(INTERFACE_PIECE, &port.id)
        .await
        .map_err(store_err)?
    {
        let router_piece = c
            .top
            .store
            .piece(net_kind::ROUTER, &id, &piece.site_id)
            .await
            .map_err(store_err)?;
        if let (Some(site), Some(site_router), Some(site_port)) = (
            c.top.sites.get(&piece.site_id),
            router_piece.and_then(|p| p.site_resource_id),
            piece.site_resource_id,
        ) {
            let site_project = crate::tenancy::site_project(
                &c.top,
                &site,
                &r.project_id,
                fedstack_api_types::Service::Network,
            )
            .await?;
            match sites::call(
                &site,
                Method::PUT,
                format!("/routers/{site_router}/remove_router_interface"),
                Some(&site_project),
                Some(json!({"port_id": site_port})),
            )
            .await
            {
                Ok(_) => {}
                Err(e) if e.status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
        c.top
            .store
            .delete_piece(INTERFACE_PIECE, &port.id, &piece.site_id)
            .await
            .map_err(store_err)?;
    }
    ports::delete_port(&c.top, &port).await?;
    doc::apply(&mut r, &Map::new());
    c.top
        .store
        .update_net_resource(&r)
        .await
        .map_err(store_err)?;
    let subnet_ids: Vec<Value> = port.body["fixed_ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["subnet_id"].clone())
        .collect();
    Ok(Json(json!({"id": id, "tenant_id": r.project_id, "project_id": r.project_id, "port_id": port.id, "network_id": port.parent_id, "subnet_id": subnet_ids.first(), "subnet_ids": subnet_ids})).into_response())
}

/// The site's external network standing for a top external network: the site's external
/// network of the same name, else its first one.
pub async fn site_external_network(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    net: &NetResource,
) -> Result<String, ApiError> {
    let name = net.name.clone();
    sites::ensure_piece(top, net_kind::NETWORK, &net.id, site, || async move {
        let r = sites::call(
            site,
            Method::GET,
            "/networks?router:external=True".into(),
            Some(site_project),
            None,
        )
        .await?;
        let list = r["networks"].as_array().cloned().unwrap_or_default();
        let pick = list
            .iter()
            .find(|n| n["name"] == name.as_str())
            .or_else(|| list.first())
            .ok_or_else(|| {
                neutron_error(
                    StatusCode::CONFLICT,
                    "ExternalNetworkNotFound",
                    format!("Site {} has no external network.", site.name()),
                )
            })?;
        sites::id_of(site, pick)
    })
    .await
}

/// A router's gateway on a site, in the site's terms (`enable_snat` only when an admin
/// turned it off at the top: setting it is an admin's right on the site too).
async fn site_gateway(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    r: &NetResource,
) -> Result<Value, ApiError> {
    let gw = &r.body["external_gateway_info"];
    let Some(net_id) = gw["network_id"].as_str() else {
        return Ok(Value::Null);
    };
    let net = top
        .store
        .net_resource(net_kind::NETWORK, net_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| networks::not_found(net_id))?;
    let site_net = site_external_network(top, site, site_project, &net).await?;
    let mut site_gw = json!({ "network_id": site_net });
    if gw["enable_snat"] == false {
        site_gw["enable_snat"] = json!(false);
    }
    Ok(site_gw)
}

/// The site router of a top router.
async fn ensure_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    r: &NetResource,
) -> Result<String, ApiError> {
    let gw = site_gateway(top, site, site_project, r).await?;
    sites::ensure_piece(top, net_kind::ROUTER, &r.id, site, || async {
        let mut body = json!({"name": r.name, "admin_state_up": r.body["admin_state_up"], "description": format!("fedstack: top router {}", r.id)});
        if !gw.is_null() {
            body["external_gateway_info"] = gw;
        }
        let ans = sites::call(site, Method::POST, "/routers".into(), Some(site_project), Some(json!({"router": body}))).await?;
        sites::id_of(site, &ans["router"])
    })
    .await
}

/// A router interface (top port) on a site: the site router gets an interface on the site
/// subnet, which takes the subnet's gateway address there.
async fn interface_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    r: &NetResource,
    port: &NetResource,
) -> Result<(), ApiError> {
    let Some(subnet_id) = port.body["fixed_ips"][0]["subnet_id"].as_str() else {
        return Ok(());
    };
    let Some(site_subnet) = top
        .store
        .piece(net_kind::SUBNET, subnet_id, site.id())
        .await
        .map_err(store_err)?
        .and_then(|p| p.site_resource_id)
    else {
        return Ok(());
    };
    let site_router = ensure_on_site(top, site, site_project, r).await?;
    sites::ensure_piece(top, INTERFACE_PIECE, &port.id, site, || async {
        let ans = sites::call(
            site,
            Method::PUT,
            format!("/routers/{site_router}/add_router_interface"),
            Some(site_project),
            Some(json!({"subnet_id": site_subnet})),
        )
        .await?;
        ans["port_id"].as_str().map(String::from).ok_or_else(|| {
            neutron_error(
                StatusCode::BAD_GATEWAY,
                "SiteError",
                format!("Site {} answered without a port.", site.name()),
            )
        })
    })
    .await
    .map(|_| ())
}

/// Follows a subnet to a site: the routers with an interface on it get one there too.
pub async fn follow_subnet(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    subnet_id: &str,
) -> Result<(), ApiError> {
    let subnet = top
        .store
        .net_resource(net_kind::SUBNET, subnet_id)
        .await
        .map_err(store_err)?;
    let Some(net_id) = subnet.and_then(|s| s.parent_id) else {
        return Ok(());
    };
    let ports = top
        .store
        .net_resources(net_kind::PORT, None, Some(&net_id))
        .await
        .map_err(store_err)?;
    for p in ports
        .iter()
        .filter(|p| p.body["device_owner"] == OWNER_INTERFACE)
    {
        if !p.body["fixed_ips"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["subnet_id"] == subnet_id))
        {
            continue;
        }
        let router = p.body["device_id"].as_str().unwrap_or_default();
        if let Some(r) = top
            .store
            .net_resource(net_kind::ROUTER, router)
            .await
            .map_err(store_err)?
        {
            interface_on_site(top, site, site_project, &r, p).await?;
        }
    }
    Ok(())
}

/// The top router of a site router, if any.
pub async fn top_router_of(top: &Top, site: &SiteHandle, site_router: &str) -> Option<String> {
    top.store
        .piece_by_site_id(net_kind::ROUTER, site.id(), site_router)
        .await
        .ok()
        .flatten()
        .map(|p| p.top_id)
}

/// Router interface ports are deleted through their router.
pub fn is_interface(p: &NetResource) -> bool {
    p.body["device_owner"] == OWNER_INTERFACE
}
