//! `/v2.0/floatingips`: allocated from a top external network, which stands for each site's
//! external network. A floating IP lives on the site of the port it is associated with (the
//! site holds its address); one allocated without a port lives on the first site up, and
//! associating it with a port on another site re-allocates it there, with that site's
//! address.

use super::doc::{self, attrs, check_known, find, owns, string_attr};
use super::{networks, neutron_error, ports, routers, sites, store_err, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::tenancy;
use crate::Top;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::networks::{net_kind, NetResource};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let mut all = c
        .top
        .store
        .net_resources(net_kind::FLOATINGIP, None, None)
        .await
        .map_err(store_err)?;
    all.retain(|f| owns(&c, f));
    Ok(doc::list_answer(&c, "floatingips", all, &pairs, |f| {
        f.body.clone()
    }))
}

async fn owned(c: &Caller, id: &str) -> Result<NetResource, ApiError> {
    let f = find(c, net_kind::FLOATINGIP, id, || not_found(id)).await?;
    if owns(c, &f) {
        Ok(f)
    } else {
        Err(not_found(id))
    }
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let f = owned(&c, &id).await?;
    Ok(Json(json!({"floatingip": doc::with_fields(f.body, &pairs)})).into_response())
}

/// The site a top port lives on (409 when it is on none yet).
async fn site_of_port(top: &Top, p: &NetResource) -> Result<Arc<SiteHandle>, ApiError> {
    let pieces = top
        .store
        .pieces(net_kind::PORT, &p.id)
        .await
        .map_err(store_err)?;
    pieces
        .first()
        .and_then(|x| top.sites.get(&x.site_id))
        .ok_or_else(|| {
            neutron_error(
                StatusCode::CONFLICT,
                "PortNotOnSite",
                format!(
                    "Port {} is not on any site yet: attach it to a server first.",
                    p.id
                ),
            )
        })
}

/// A port of the caller to associate, with its site.
async fn port_for(c: &Caller, port_id: &str) -> Result<(NetResource, Arc<SiteHandle>), ApiError> {
    let p = ports::visible(c, port_id).await?;
    if !owns(c, &p) {
        return Err(ports::not_found(port_id));
    }
    let site = site_of_port(&c.top, &p).await?;
    Ok((p, site))
}

/// Allocates the floating IP on `site` (associated with `port` when given) and fills the
/// top record with the site's answer.
async fn allocate_on_site(
    top: &Top,
    site: &SiteHandle,
    f: &mut NetResource,
    port: Option<&NetResource>,
    fixed_ip: Option<&str>,
) -> Result<(), ApiError> {
    if !site.is_up() {
        return Err(sites::site_down(site));
    }
    let site_project = tenancy::site_project(top, site, &f.project_id, Service::Network).await?;
    let net_id = f.body["floating_network_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let net = top
        .store
        .net_resource(net_kind::NETWORK, &net_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| networks::not_found(&net_id))?;
    let site_net = routers::site_external_network(top, site, &site_project, &net).await?;
    let mut body = json!({"floating_network_id": site_net, "description": format!("fedstack: top floating IP {}", f.id)});
    if let Some(p) = port {
        body["port_id"] = json!(ports::ensure_on_site(top, site, &site_project, p).await?);
        if let Some(ip) = fixed_ip {
            body["fixed_ip_address"] = json!(ip);
        }
    }
    if let Some(addr) = f.body["floating_ip_address"].as_str() {
        body["floating_ip_address"] = json!(addr);
    }
    top.store
        .insert_piece(net_kind::FLOATINGIP, &f.id, site.id())
        .await
        .map_err(store_err)?;
    let ans = match sites::call(
        site,
        Method::POST,
        "/floatingips".into(),
        Some(&site_project),
        Some(json!({"floatingip": body})),
    )
    .await
    {
        Ok(a) => a,
        Err(e) => {
            let _ = top
                .store
                .delete_piece(net_kind::FLOATINGIP, &f.id, site.id())
                .await;
            return Err(e);
        }
    };
    let site_fip = &ans["floatingip"];
    top.store
        .set_piece(
            net_kind::FLOATINGIP,
            &f.id,
            site.id(),
            &sites::id_of(site, site_fip)?,
        )
        .await
        .map_err(store_err)?;
    merge_site_view(top, site, f, site_fip, port).await;
    Ok(())
}

/// The site's view of a floating IP, in top terms, into the top record.
async fn merge_site_view(
    top: &Top,
    site: &SiteHandle,
    f: &mut NetResource,
    site_fip: &Value,
    port: Option<&NetResource>,
) {
    let router = match site_fip["router_id"].as_str() {
        Some(r) => routers::top_router_of(top, site, r).await,
        None => None,
    };
    let changes: Map<String, Value> = [
        (
            "floating_ip_address",
            site_fip["floating_ip_address"].clone(),
        ),
        ("fixed_ip_address", site_fip["fixed_ip_address"].clone()),
        ("port_id", json!(port.map(|p| p.id.clone()))),
        ("router_id", json!(router)),
        (
            "status",
            if port.is_some() {
                json!("ACTIVE")
            } else {
                json!("DOWN")
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    doc::apply(f, &changes);
}

pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let a = attrs(&body, "floatingip")?;
    check_known(
        &a,
        &[
            "floating_network_id",
            "port_id",
            "fixed_ip_address",
            "floating_ip_address",
            "description",
            "project_id",
            "tenant_id",
            "tags",
            "subnet_id",
            "dns_name",
            "dns_domain",
        ],
    )?;
    let net_id = string_attr(&a, "floating_network_id")?.ok_or_else(|| {
        super::bad_request(
            "Failed to parse request. Required attribute 'floating_network_id' not specified",
        )
    })?;
    let net = networks::visible(&c, &net_id).await?;
    if net.body["router:external"] != true {
        return Err(neutron_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Bad floatingip request: Network {net_id} is not a valid external network."),
        ));
    }
    let project = doc::target_project(&c, &a)?;
    let port = match string_attr(&a, "port_id")? {
        Some(p) => Some(port_for(&c, &p).await?),
        None => None,
    };
    let site = match &port {
        Some((_, s)) => s.clone(),
        None => c
            .top
            .sites
            .all()
            .into_iter()
            .find(|s| s.record.enabled && s.is_up())
            .ok_or_else(|| {
                neutron_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "No site is available to allocate a floating IP.",
                )
            })?,
    };
    let mut attrs = Map::new();
    attrs.insert("floating_network_id".into(), json!(net_id));
    attrs.insert(
        "floating_ip_address".into(),
        a.get("floating_ip_address").cloned().unwrap_or(Value::Null),
    );
    attrs.insert(
        "description".into(),
        a.get("description").cloned().unwrap_or(json!("")),
    );
    for k in ["fixed_ip_address", "port_id", "router_id", "port_details"] {
        attrs.insert(k.into(), Value::Null);
    }
    attrs.insert("status".into(), json!("DOWN"));
    attrs.insert("port_forwardings".into(), json!([]));
    let mut f = doc::new_resource(net_kind::FLOATINGIP, &project, Some(&net_id), attrs);
    if let Some(o) = f.body.as_object_mut() {
        o.remove("name");
    }
    let fixed = string_attr(&a, "fixed_ip_address")?;
    let claim = crate::quota::network::reserve_one(&c.top, &project, &f.kind, &f.id).await?;
    let allocated = allocate_on_site(
        &c.top,
        &site,
        &mut f,
        port.as_ref().map(|(p, _)| p),
        fixed.as_deref(),
    )
    .await;
    if let Err(e) = allocated {
        claim.finish(&c.top).await;
        return Err(e);
    }
    let stored = c.top.store.insert_net_resource(&f).await;
    claim.finish(&c.top).await;
    if let Err(e) = stored {
        let _ = release_on_site(&c.top, &f.id).await;
        return Err(store_err(e));
    }
    tracing::info!(floatingip = %f.id, site = %site.name(), "top floating IP allocated");
    Ok((StatusCode::CREATED, Json(json!({"floatingip": f.body}))).into_response())
}

/// The site piece of a floating IP: (site, site floating IP ID).
async fn piece(top: &Top, id: &str) -> Result<Option<(Arc<SiteHandle>, String)>, ApiError> {
    let pieces = top
        .store
        .pieces(net_kind::FLOATINGIP, id)
        .await
        .map_err(store_err)?;
    Ok(pieces
        .into_iter()
        .find_map(|p| Some((top.sites.get(&p.site_id)?, p.site_resource_id?))))
}

/// Releases a floating IP on its site.
async fn release_on_site(top: &Top, id: &str) -> Result<(), ApiError> {
    sites::delete_pieces(top, net_kind::FLOATINGIP, "floatingips", id).await
}

pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut f = owned(&c, &id).await?;
    let a = attrs(&body, "floatingip")?;
    check_known(&a, &["port_id", "fixed_ip_address", "description"])?;
    if let Some(d) = a.get("description") {
        let mut m = Map::new();
        m.insert("description".into(), d.clone());
        doc::apply(&mut f, &m);
    }
    if a.contains_key("port_id") {
        let fixed = string_attr(&a, "fixed_ip_address")?;
        match string_attr(&a, "port_id")? {
            Some(port_id) => {
                let (port, site) = port_for(&c, &port_id).await?;
                let current = piece(&c.top, &id).await?;
                match current {
                    Some((s, site_fip)) if s.id() == site.id() => {
                        if !s.is_up() {
                            return Err(sites::site_down(&s));
                        }
                        let site_project =
                            tenancy::site_project(&c.top, &s, &f.project_id, Service::Network)
                                .await?;
                        let site_port =
                            ports::ensure_on_site(&c.top, &s, &site_project, &port).await?;
                        let mut b = json!({"port_id": site_port});
                        if let Some(ip) = &fixed {
                            b["fixed_ip_address"] = json!(ip);
                        }
                        let ans = sites::call(
                            &s,
                            Method::PUT,
                            format!("/floatingips/{site_fip}"),
                            Some(&site_project),
                            Some(json!({"floatingip": b})),
                        )
                        .await?;
                        merge_site_view(&c.top, &s, &mut f, &ans["floatingip"], Some(&port)).await;
                    }
                    _ => {
                        release_on_site(&c.top, &id).await?;
                        f.body["floating_ip_address"] = Value::Null;
                        allocate_on_site(&c.top, &site, &mut f, Some(&port), fixed.as_deref())
                            .await?;
                    }
                }
            }
            None => {
                if let Some((s, site_fip)) = piece(&c.top, &id).await? {
                    if !s.is_up() {
                        return Err(sites::site_down(&s));
                    }
                    let site_project =
                        tenancy::site_project(&c.top, &s, &f.project_id, Service::Network).await?;
                    let ans = sites::call(
                        &s,
                        Method::PUT,
                        format!("/floatingips/{site_fip}"),
                        Some(&site_project),
                        Some(json!({"floatingip": {"port_id": null}})),
                    )
                    .await?;
                    merge_site_view(&c.top, &s, &mut f, &ans["floatingip"], None).await;
                }
            }
        }
    }
    c.top
        .store
        .update_net_resource(&f)
        .await
        .map_err(store_err)?;
    Ok(Json(json!({"floatingip": f.body})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    owned(&c, &id).await?;
    release_on_site(&c.top, &id).await?;
    c.top
        .store
        .delete_net_resource(net_kind::FLOATINGIP, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
