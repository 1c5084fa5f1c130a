//! The pieces of top network resources on sites: made the first time something on a site
//! needs them (a network/subnet for a port, a security group for a port, a router for a
//! floating IP), recorded as site pieces before the site call, and kept in sync.

use super::{neutron_error, store_err};
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::networks::{net_kind, NetResource};
use fedstack_store::StoreError;
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::future::Future;

/// The 503 for a site that is down, naming it.
pub fn site_down(site: &SiteHandle) -> ApiError {
    crate::tenancy::site_down(Service::Network, site).with_kind("ServiceUnavailable")
}

/// One Neutron call on a site in the tenant's site project (admin scope when `None`). A
/// site's Neutron refusal (4xx) comes back with its status, type and message; anything else
/// is a 502/503 naming the site.
pub async fn call(
    site: &SiteHandle,
    method: Method,
    path: String,
    site_project: Option<&str>,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let scope = match site_project {
        Some(p) => Scope::Project(p.to_string()),
        None => Scope::Admin,
    };
    let mut req = SiteRequest::new(method, "network", format!("/v2.0{path}"), scope);
    if let Some(b) = &body {
        req = req.json(b);
    }
    let resp = site
        .client
        .send(req)
        .await
        .map_err(|e| site_error(Service::Network, site, e))?;
    if resp.is_success() {
        return Ok(if resp.body.is_empty() {
            Value::Null
        } else {
            resp.json()
        });
    }
    let body = resp.json();
    let inner = &body["NeutronError"];
    let message = inner["message"].as_str().map(String::from);
    match message {
        Some(m) if resp.status.is_client_error() => {
            let kind = inner["type"].as_str().unwrap_or("SiteError").to_string();
            Err(ApiError::new(Service::Network, resp.status, m).with_kind(kind))
        }
        m => Err(neutron_error(
            StatusCode::BAD_GATEWAY,
            "SiteError",
            format!(
                "Site {} failed: {}",
                site.name(),
                m.unwrap_or_else(|| resp.status.to_string())
            ),
        )),
    }
}

/// The site resource of a piece, making it with `create` the first time (the piece is
/// recorded before the site call; a failed call forgets it).
pub async fn ensure_piece<F, Fut>(
    top: &Top,
    kind: &str,
    top_id: &str,
    site: &SiteHandle,
    create: F,
) -> Result<String, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, ApiError>>,
{
    let lookup = || async {
        top.store
            .piece(kind, top_id, site.id())
            .await
            .map_err(store_err)
            .map(|p| p.and_then(|p| p.site_resource_id))
    };
    if let Some(id) = lookup().await? {
        return Ok(id);
    }
    let lock = top.lock_for(&format!("net/{kind}/{top_id}/{}", site.id()));
    let _guard = lock.lock().await;
    if let Some(id) = lookup().await? {
        return Ok(id);
    }
    match top.store.insert_piece(kind, top_id, site.id()).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(store_err(e)),
    }
    match create().await {
        Ok(site_id) => {
            top.store
                .set_piece(kind, top_id, site.id(), &site_id)
                .await
                .map_err(store_err)?;
            tracing::info!(kind, top_id, site = %site.name(), site_id, "network piece made on site");
            Ok(site_id)
        }
        Err(e) => {
            let _ = top.store.delete_piece(kind, top_id, site.id()).await;
            Err(e)
        }
    }
}

/// The attributes of `doc` to copy to a site.
fn pick(doc: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| doc.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// The site network of a top network (same name, MTU and port security).
pub async fn ensure_network(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    net: &NetResource,
) -> Result<String, ApiError> {
    ensure_piece(top, net_kind::NETWORK, &net.id, site, || async {
        let mut n = pick(
            &net.body,
            &["name", "admin_state_up", "port_security_enabled", "mtu"],
        );
        n.insert(
            "description".into(),
            json!(format!("fedstack: top network {}", net.id)),
        );
        let r = call(
            site,
            Method::POST,
            "/networks".into(),
            Some(site_project),
            Some(json!({"network": n})),
        )
        .await?;
        id_of(site, &r["network"])
    })
    .await
}

/// The site subnet of a top subnet: same CIDR, gateway, pools, DNS and host routes.
pub async fn ensure_subnet(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    net: &NetResource,
    subnet: &NetResource,
) -> Result<String, ApiError> {
    let site_net = ensure_network(top, site, site_project, net).await?;
    ensure_piece(top, net_kind::SUBNET, &subnet.id, site, || async {
        let mut s = pick(
            &subnet.body,
            &[
                "name",
                "cidr",
                "ip_version",
                "gateway_ip",
                "allocation_pools",
                "dns_nameservers",
                "host_routes",
                "enable_dhcp",
                "ipv6_ra_mode",
                "ipv6_address_mode",
            ],
        );
        s.insert("network_id".into(), json!(site_net));
        s.insert(
            "description".into(),
            json!(format!("fedstack: top subnet {}", subnet.id)),
        );
        for k in ["ipv6_ra_mode", "ipv6_address_mode"] {
            if s.get(k).is_some_and(Value::is_null) {
                s.remove(k);
            }
        }
        let r = call(
            site,
            Method::POST,
            "/subnets".into(),
            Some(site_project),
            Some(json!({"subnet": s})),
        )
        .await?;
        id_of(site, &r["subnet"])
    })
    .await
}

/// The `id` of a site's answer.
pub fn id_of(site: &SiteHandle, v: &Value) -> Result<String, ApiError> {
    v["id"].as_str().map(String::from).ok_or_else(|| {
        neutron_error(
            StatusCode::BAD_GATEWAY,
            "SiteError",
            format!("Site {} answered without an ID.", site.name()),
        )
    })
}

/// Applies `changes` to every site piece of a resource (`collection` like `subnets`);
/// a site that refuses or is down is logged, the top stays the truth.
pub async fn update_pieces(
    top: &Top,
    kind: &str,
    collection: &str,
    top_id: &str,
    key: &str,
    changes: Map<String, Value>,
) {
    if changes.is_empty() {
        return;
    }
    for p in top.store.pieces(kind, top_id).await.unwrap_or_default() {
        let (Some(site), Some(site_rid)) = (top.sites.get(&p.site_id), p.site_resource_id) else {
            continue;
        };
        let r = call(
            &site,
            Method::PUT,
            format!("/{collection}/{site_rid}"),
            None,
            Some(json!({ key: changes.clone() })),
        )
        .await;
        if let Err(e) = r {
            tracing::warn!(kind, top_id, site = %site.name(), error = %e.message, "site piece not updated");
        }
    }
}

/// Deletes every site piece of a resource (`collection` like `networks`). A site that
/// refuses or is down stops the deletion with its error, so nothing is left untracked.
pub async fn delete_pieces(
    top: &Top,
    kind: &str,
    collection: &str,
    top_id: &str,
) -> Result<(), ApiError> {
    for p in top.store.pieces(kind, top_id).await.map_err(store_err)? {
        let Some(site) = top.sites.get(&p.site_id) else {
            let _ = top.store.delete_piece(kind, top_id, &p.site_id).await;
            continue;
        };
        if let Some(site_rid) = &p.site_resource_id {
            if !site.is_up() {
                return Err(site_down(&site));
            }
            match call(
                &site,
                Method::DELETE,
                format!("/{collection}/{site_rid}"),
                None,
                None,
            )
            .await
            {
                Ok(_) => {}
                Err(e) if e.status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
        top.store
            .delete_piece(kind, top_id, &p.site_id)
            .await
            .map_err(store_err)?;
    }
    Ok(())
}
