//! `/v2.0/subnets`: addressing of top networks; the top's IPAM hands out their addresses.

use super::doc::{self, attrs, bool_attr, check_known, find, owns, string_attr};
use super::ipam::{default_pools, SubnetPlan};
use super::{invalid_input, networks, neutron_error, policy_denied, sites, store_err, Res};
use crate::auth::Caller;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::ApiError;
use fedstack_store::networks::{net_kind, NetResource};
use ipnet::IpNet;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

const ATTRS: &[&str] = &[
    "name",
    "network_id",
    "cidr",
    "ip_version",
    "gateway_ip",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "enable_dhcp",
    "description",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "tags",
    "project_id",
    "tenant_id",
    "subnetpool_id",
    "service_types",
    "segment_id",
    "use_default_subnetpool",
];

/// Neutron's 404 for a subnet.
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "SubnetNotFound",
        format!("Subnet {id} could not be found."),
    )
}

fn invalid_attr(key: &str, why: String) -> ApiError {
    super::bad_request(format!("Invalid input for {key}. Reason: {why}."))
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let all = c
        .top
        .store
        .net_resources(net_kind::SUBNET, None, None)
        .await
        .map_err(store_err)?;
    Ok(doc::list_answer(&c, "subnets", all, &pairs, |s| {
        s.body.clone()
    }))
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let s = find(&c, net_kind::SUBNET, &id, || not_found(&id)).await?;
    Ok(Json(json!({"subnet": doc::with_fields(s.body, &pairs)})).into_response())
}

/// A list of strings (nameservers), or a 400 naming `key`.
fn strings(a: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match a.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid_attr(key, format!("'{i}' is not a valid string")))
            })
            .collect(),
        Some(other) => Err(invalid_attr(key, format!("'{other}' is not a list"))),
    }
}

/// The allocation pools given (checked to lie in the CIDR), or the default ones.
fn pools(a: &Map<String, Value>, cidr: &IpNet, gateway: Option<IpAddr>) -> Result<Value, ApiError> {
    let Some(given) = a.get("allocation_pools").filter(|v| !v.is_null()) else {
        let d = default_pools(cidr, gateway);
        return Ok(json!(d
            .iter()
            .map(|(s, e)| json!({"start": s.to_string(), "end": e.to_string()}))
            .collect::<Vec<_>>()));
    };
    let items = given
        .as_array()
        .ok_or_else(|| invalid_attr("allocation_pools", format!("'{given}' is not a list")))?;
    for p in items {
        let ip = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
        };
        let (Some(start), Some(end)) = (ip("start"), ip("end")) else {
            return Err(invalid_attr(
                "allocation_pools",
                format!("'{p}' is not a valid allocation pool"),
            ));
        };
        if !cidr.contains(&start) || !cidr.contains(&end) {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "OutOfBoundsAllocationPool",
                format!("The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}."),
            ));
        }
        if super::ipam::to_int(start) > super::ipam::to_int(end) {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "InvalidAllocationPool",
                format!("The allocation pool {start}-{end} is not valid."),
            ));
        }
    }
    Ok(given.clone())
}

pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let mut a = attrs(&body, "subnet")?;
    check_known(&a, ATTRS)?;
    let network_id = string_attr(&a, "network_id")?.ok_or_else(|| {
        super::bad_request("Failed to parse request. Required attribute 'network_id' not specified")
    })?;
    let net = networks::visible(&c, &network_id).await?;
    if !owns(&c, &net) {
        return Err(policy_denied("rule:create_subnet"));
    }
    let project = doc::target_project(&c, &a)?;
    if a.get("subnetpool_id").is_some_and(|v| !v.is_null())
        || a.get("use_default_subnetpool") == Some(&json!(true))
    {
        return Err(invalid_input(
            "subnet pools are not supported by this cloud; give a cidr",
        ));
    }
    let cidr_text = string_attr(&a, "cidr")?.ok_or_else(|| {
        super::bad_request("A cidr must be specified in the absence of a subnet pool")
    })?;
    let cidr: IpNet = cidr_text
        .parse()
        .map_err(|_| invalid_attr("cidr", format!("'{cidr_text}' is not a valid IP subnet")))?;
    let version = if cidr.addr().is_ipv4() { 4 } else { 6 };
    match a.get("ip_version") {
        None => {}
        Some(v) if v == version || v.as_str() == Some(&version.to_string()) => {}
        Some(v) => {
            return Err(invalid_input(format!(
                "Requested subnet with cidr: {cidr_text} does not match ip_version {v}"
            )))
        }
    }
    let cidr = cidr.trunc();
    let gateway = match a.get("gateway_ip") {
        Some(Value::Null) => None,
        None => cidr
            .hosts()
            .next()
            .filter(|_| cidr.prefix_len() < cidr.max_prefix_len()),
        Some(g) => {
            let ip: IpAddr = g.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                invalid_attr("gateway_ip", format!("'{g}' is not a valid IP address"))
            })?;
            if !cidr.contains(&ip) {
                return Err(invalid_input(format!(
                    "Gateway IP {ip} is not in subnet {cidr}"
                )));
            }
            Some(ip)
        }
    };
    let siblings = c
        .top
        .store
        .net_resources(net_kind::SUBNET, None, Some(&network_id))
        .await
        .map_err(store_err)?;
    if siblings
        .iter()
        .filter_map(|s| s.body["cidr"].as_str()?.parse::<IpNet>().ok())
        .any(|o| o.contains(&cidr.network()) || cidr.contains(&o.network()))
    {
        return Err(invalid_input(format!("Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet")));
    }
    let pools = pools(&a, &cidr, gateway)?;
    let dns = strings(&a, "dns_nameservers")?;
    for ns in &dns {
        if ns.parse::<IpAddr>().is_err() {
            return Err(invalid_attr(
                "dns_nameservers",
                format!("'{ns}' is not a valid nameserver"),
            ));
        }
    }
    a.insert("network_id".into(), json!(network_id));
    a.insert("cidr".into(), json!(cidr.to_string()));
    a.insert("ip_version".into(), json!(version));
    a.insert("gateway_ip".into(), json!(gateway.map(|g| g.to_string())));
    a.insert("allocation_pools".into(), pools);
    a.insert("dns_nameservers".into(), json!(dns));
    a.insert(
        "enable_dhcp".into(),
        json!(bool_attr(&a, "enable_dhcp")?.unwrap_or(true)),
    );
    for (k, v) in [
        ("host_routes", json!([])),
        ("ipv6_ra_mode", Value::Null),
        ("ipv6_address_mode", Value::Null),
        ("service_types", json!([])),
        ("segment_id", Value::Null),
        ("dns_publish_fixed_ip", json!(false)),
    ] {
        a.entry(k).or_insert(v);
    }
    a.insert("subnetpool_id".into(), Value::Null);
    for k in ["tenant_id", "project_id", "use_default_subnetpool"] {
        a.remove(k);
    }
    let s = doc::new_resource(net_kind::SUBNET, &project, Some(&network_id), a);
    if SubnetPlan::of(&s.body).is_none() {
        return Err(invalid_attr(
            "allocation_pools",
            "not a valid allocation pool".into(),
        ));
    }
    crate::quota::network::insert_counted(&c.top, &s).await?;
    Ok((StatusCode::CREATED, Json(json!({"subnet": s.body}))).into_response())
}

pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut s: NetResource = find(&c, net_kind::SUBNET, &id, || not_found(&id)).await?;
    if !owns(&c, &s) {
        return Err(policy_denied("rule:update_subnet"));
    }
    let a = attrs(&body, "subnet")?;
    check_known(
        &a,
        &[
            "name",
            "description",
            "dns_nameservers",
            "host_routes",
            "enable_dhcp",
            "gateway_ip",
        ],
    )?;
    strings(&a, "dns_nameservers")?;
    bool_attr(&a, "enable_dhcp")?;
    doc::apply(&mut s, &a);
    c.top
        .store
        .update_net_resource(&s)
        .await
        .map_err(store_err)?;
    sites::update_pieces(&c.top, net_kind::SUBNET, "subnets", &id, "subnet", a).await;
    Ok(Json(json!({"subnet": s.body})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let s = find(&c, net_kind::SUBNET, &id, || not_found(&id)).await?;
    if !owns(&c, &s) {
        return Err(policy_denied("rule:delete_subnet"));
    }
    if !c
        .top
        .store
        .allocated_ips(&id)
        .await
        .map_err(store_err)?
        .is_empty()
    {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SubnetInUse",
            format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
        ));
    }
    sites::delete_pieces(&c.top, net_kind::SUBNET, "subnets", &id).await?;
    c.top
        .store
        .delete_net_resource(net_kind::SUBNET, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
