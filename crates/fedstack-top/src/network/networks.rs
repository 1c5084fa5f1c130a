//! `/v2.0/networks`: stored at the top; made on a site when a port there needs them.

use super::doc::{self, attrs, bool_attr, check_known, find, owns, string_attr};
use super::{neutron_error, policy_denied, sites, store_err, Res};
use crate::auth::Caller;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::ApiError;
use fedstack_store::networks::{net_kind, NetResource};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Attributes a client may give.
const ATTRS: &[&str] = &[
    "name",
    "admin_state_up",
    "shared",
    "router:external",
    "mtu",
    "port_security_enabled",
    "description",
    "availability_zone_hints",
    "tags",
    "project_id",
    "tenant_id",
    "is_default",
    "dns_domain",
];

/// Attributes only an admin may set.
const ADMIN_ATTRS: &[&str] = &["shared", "router:external", "is_default"];

/// Neutron's 404 for a network.
pub fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "NetworkNotFound",
        format!("Network {id} could not be found."),
    )
}

/// A network the caller may see.
pub async fn visible(c: &Caller, id: &str) -> Result<NetResource, ApiError> {
    find(c, net_kind::NETWORK, id, || not_found(id)).await
}

/// A network as Neutron shows it, with its subnets and the zones (sites) it spans.
fn view(n: &NetResource, subnets: &[String], zones: &[String]) -> Value {
    let mut v = n.body.clone();
    v["subnets"] = json!(subnets);
    v["availability_zones"] = json!(zones);
    v
}

async fn view_of(c: &Caller, n: &NetResource) -> Result<Value, ApiError> {
    let subnets = c
        .top
        .store
        .net_resources(net_kind::SUBNET, None, Some(&n.id))
        .await
        .map_err(store_err)?;
    let ids: Vec<String> = subnets.into_iter().map(|s| s.id).collect();
    Ok(view(n, &ids, &zones(c, &n.id).await?))
}

/// The availability zones (sites) a network has a piece on.
async fn zones(c: &Caller, id: &str) -> Result<Vec<String>, ApiError> {
    let pieces = c
        .top
        .store
        .pieces(net_kind::NETWORK, id)
        .await
        .map_err(store_err)?;
    Ok(pieces
        .iter()
        .filter_map(|p| c.top.sites.get(&p.site_id))
        .map(|s| s.record.az.clone())
        .collect())
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let store = &c.top.store;
    let nets = store
        .net_resources(net_kind::NETWORK, None, None)
        .await
        .map_err(store_err)?;
    let mut subnets: HashMap<String, Vec<String>> = HashMap::new();
    for s in store
        .net_resources(net_kind::SUBNET, None, None)
        .await
        .map_err(store_err)?
    {
        subnets
            .entry(s.parent_id.unwrap_or_default())
            .or_default()
            .push(s.id);
    }
    let mut spans: HashMap<String, Vec<String>> = HashMap::new();
    for n in nets.iter().filter(|n| doc::visible(&c, n)) {
        spans.insert(n.id.clone(), zones(&c, &n.id).await?);
    }
    Ok(doc::list_answer(&c, "networks", nets, &pairs, |n| {
        let subnets = subnets.get(&n.id).map(Vec::as_slice).unwrap_or_default();
        view(
            n,
            subnets,
            spans.get(&n.id).map(Vec::as_slice).unwrap_or_default(),
        )
    }))
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let n = visible(&c, &id).await?;
    let v = view_of(&c, &n).await?;
    Ok(Json(json!({"network": doc::with_fields(v, &pairs)})).into_response())
}

fn check_admin_attrs(
    c: &Caller,
    a: &serde_json::Map<String, Value>,
    action: &str,
) -> Result<(), ApiError> {
    if let Some(k) = ADMIN_ATTRS.iter().find(|k| a.contains_key(**k)) {
        if !c.is_admin() {
            return Err(policy_denied(&format!(
                "(rule:{action} and rule:{action}:{k})"
            )));
        }
    }
    Ok(())
}

pub async fn create(
    c: Caller,
    fedstack_api_types::http::OsJson(body): fedstack_api_types::http::OsJson,
) -> Res {
    let mut a = attrs(&body, "network")?;
    check_known(&a, ATTRS)?;
    check_admin_attrs(&c, &a, "create_network")?;
    string_attr(&a, "name")?;
    let project = doc::target_project(&c, &a)?;
    let external = bool_attr(&a, "router:external")?.unwrap_or(false);
    a.insert(
        "admin_state_up".into(),
        json!(bool_attr(&a, "admin_state_up")?.unwrap_or(true)),
    );
    a.insert(
        "shared".into(),
        json!(bool_attr(&a, "shared")?.unwrap_or(false)),
    );
    a.insert("router:external".into(), json!(external));
    a.insert(
        "port_security_enabled".into(),
        json!(bool_attr(&a, "port_security_enabled")?.unwrap_or(true)),
    );
    if external {
        a.insert(
            "is_default".into(),
            json!(bool_attr(&a, "is_default")?.unwrap_or(false)),
        );
    } else {
        a.remove("is_default");
    }
    a.entry("mtu").or_insert(json!(1450));
    a.entry("availability_zone_hints").or_insert(json!([]));
    a.entry("dns_domain").or_insert(json!(""));
    for (k, v) in [
        ("status", json!("ACTIVE")),
        ("l2_adjacency", json!(true)),
        ("ipv4_address_scope", Value::Null),
        ("ipv6_address_scope", Value::Null),
    ] {
        a.insert(k.into(), v);
    }
    a.remove("tenant_id");
    a.remove("project_id");
    let n = doc::new_resource(net_kind::NETWORK, &project, None, a);
    crate::quota::network::insert_counted(&c.top, &n).await?;
    tracing::info!(network = %n.id, project = %project, "top network created");
    Ok((
        StatusCode::CREATED,
        Json(json!({"network": view(&n, &[], &[])})),
    )
        .into_response())
}

pub async fn update(
    c: Caller,
    Path(id): Path<String>,
    fedstack_api_types::http::OsJson(body): fedstack_api_types::http::OsJson,
) -> Res {
    let mut n = visible(&c, &id).await?;
    if !owns(&c, &n) {
        return Err(policy_denied("rule:update_network"));
    }
    let a = attrs(&body, "network")?;
    check_known(
        &a,
        &[
            "name",
            "admin_state_up",
            "shared",
            "router:external",
            "mtu",
            "port_security_enabled",
            "description",
            "dns_domain",
            "is_default",
        ],
    )?;
    check_admin_attrs(&c, &a, "update_network")?;
    for k in [
        "admin_state_up",
        "shared",
        "router:external",
        "port_security_enabled",
        "is_default",
    ] {
        bool_attr(&a, k)?;
    }
    string_attr(&a, "name")?;
    doc::apply(&mut n, &a);
    c.top
        .store
        .update_net_resource(&n)
        .await
        .map_err(store_err)?;
    let site_changes = a
        .iter()
        .filter(|(k, _)| {
            ["name", "admin_state_up", "port_security_enabled", "mtu"].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    sites::update_pieces(
        &c.top,
        net_kind::NETWORK,
        "networks",
        &id,
        "network",
        site_changes,
    )
    .await;
    Ok(Json(json!({"network": view_of(&c, &n).await?})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let n = visible(&c, &id).await?;
    if !owns(&c, &n) {
        return Err(policy_denied("rule:delete_network"));
    }
    let store = &c.top.store;
    let ports = store
        .net_resources(net_kind::PORT, None, Some(&id))
        .await
        .map_err(store_err)?;
    if !ports.is_empty() {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "NetworkInUse",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        ));
    }
    if n.body["router:external"] == true {
        // The pieces of an external network are the sites' own networks: only forgotten.
        for p in store
            .pieces(net_kind::NETWORK, &id)
            .await
            .map_err(store_err)?
        {
            store
                .delete_piece(net_kind::NETWORK, &id, &p.site_id)
                .await
                .map_err(store_err)?;
        }
    } else {
        sites::delete_pieces(&c.top, net_kind::NETWORK, "networks", &id).await?;
    }
    for s in store
        .net_resources(net_kind::SUBNET, None, Some(&id))
        .await
        .map_err(store_err)?
    {
        for p in store
            .pieces(net_kind::SUBNET, &s.id)
            .await
            .map_err(store_err)?
        {
            let _ = store
                .delete_piece(net_kind::SUBNET, &s.id, &p.site_id)
                .await;
        }
        store
            .delete_net_resource(net_kind::SUBNET, &s.id)
            .await
            .map_err(store_err)?;
    }
    store
        .delete_net_resource(net_kind::NETWORK, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
