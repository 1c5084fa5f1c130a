//! Nova's `os-interface` at the top: attaching a top network or a top port to a server makes
//! the site port with the top's addresses (as a server create does) and sends the site's
//! Nova that port; detaching a top port releases what the top made for it. The site's answers
//! come back with top port, network and subnet IDs.

use super::servers::{self, Plugged};
use super::{networks, ports, store_err};
use crate::auth::Caller;
use crate::Top;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use fedstack_api_types::http::parse_json;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::networks::{net_kind, NetResource};
use fedstack_store::routes::Route;
use serde_json::{json, Value};

/// Sub-resource of a server these hooks translate.
pub const SUBRESOURCE: &str = "os-interface";

fn nova(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// What an interface call holds at the top until the site answered.
#[derive(Debug, Default)]
pub struct Pending {
    /// Ports plugged for an attach (released if the site refuses).
    plugged: Option<Plugged>,
    /// The top port of a detach (released once the site detached it).
    detached: Option<NetResource>,
}

/// The top port attached to `server` under `id`, as Nova's 404 otherwise.
async fn attached_port(top: &Top, server: &Route, id: &str) -> Result<NetResource, ApiError> {
    top.store
        .net_resource(net_kind::PORT, id)
        .await
        .map_err(|e| nova(StatusCode::INTERNAL_SERVER_ERROR, store_err(e).message))?
        .filter(|p| p.body["device_id"] == server.top_id.as_str())
        .ok_or_else(|| {
            nova(
                StatusCode::NOT_FOUND,
                format!("Port {id} could not be found."),
            )
        })
}

/// The site port of a top port on the server's site.
async fn site_port(top: &Top, server: &Route, p: &NetResource) -> Option<String> {
    let site = server.site_id.as_deref()?;
    top.store
        .piece(net_kind::PORT, &p.id, site)
        .await
        .ok()
        .flatten()
        .and_then(|x| x.site_resource_id)
}

/// Before forwarding `rest` (`os-interface[/{port}]`) of `server` to its site: an attach
/// naming a top network or port gets its site port made and named instead; a top port in the
/// path becomes the site's.
pub async fn to_site(
    c: &Caller,
    server: &Route,
    method: &Method,
    rest: &str,
    body: Option<Vec<u8>>,
) -> Result<(String, Option<Vec<u8>>, Pending), ApiError> {
    let top = &c.top;
    let mut pending = Pending::default();
    if let Some((head, port)) = rest.split_once('/').filter(|(_, p)| !p.is_empty()) {
        if top
            .store
            .net_resource(net_kind::PORT, port)
            .await
            .map_err(|e| nova(StatusCode::INTERNAL_SERVER_ERROR, store_err(e).message))?
            .is_none()
        {
            return Ok((rest.to_string(), body, pending));
        }
        let p = attached_port(top, server, port).await?;
        let site = site_port(top, server, &p).await.ok_or_else(|| {
            nova(
                StatusCode::NOT_FOUND,
                format!("Port {port} could not be found."),
            )
        })?;
        if *method == Method::DELETE {
            pending.detached = Some(p);
        }
        return Ok((format!("{head}/{site}"), body, pending));
    }
    let Some(bytes) = body.as_ref().filter(|_| *method == Method::POST) else {
        return Ok((rest.to_string(), body, pending));
    };
    let v = parse_json(Service::Compute, bytes)?;
    let a = &v["interfaceAttachment"];
    let mut nic = match (a["port_id"].as_str(), a["net_id"].as_str()) {
        (Some(port), _) => {
            if ports::visible(c, port).await.is_err() {
                return Ok((rest.to_string(), body, pending));
            }
            json!({ "port": port })
        }
        (None, Some(net)) => {
            if networks::visible(c, net).await.is_err() {
                return Ok((rest.to_string(), body, pending));
            }
            let mut n = json!({ "uuid": net });
            if let Some(ip) = a["fixed_ips"][0]["ip_address"].as_str() {
                n["fixed_ip"] = json!(ip);
            }
            n
        }
        (None, None) => return Ok((rest.to_string(), body, pending)),
    };
    if let Some(tag) = a.get("tag") {
        nic["tag"] = tag.clone();
    }
    let site = crate::compute::site_for_write(top, server)?;
    let site_project =
        crate::tenancy::site_project(top, &site, &server.project_id, Service::Network).await?;
    let mut plugged = Plugged::default();
    let made = servers::plug_one(
        c,
        &site,
        &site_project,
        &server.top_id,
        &nic,
        &None,
        &mut plugged,
    )
    .await;
    let made = match made {
        Ok(m) => m,
        Err(e) => {
            plugged.release(top).await;
            return Err(e);
        }
    };
    let mut attach = json!({ "port_id": made["port"] });
    if let Some(tag) = made.get("tag") {
        attach["tag"] = tag.clone();
    }
    pending.plugged = Some(plugged);
    let out = json!({ "interfaceAttachment": attach });
    Ok((
        rest.to_string(),
        Some(serde_json::to_vec(&out).unwrap_or_default()),
        pending,
    ))
}

impl Pending {
    /// The site did not answer: what the attach made is released.
    pub async fn abandon(self, top: &Top) {
        if let Some(p) = self.plugged {
            p.release(top).await;
        }
    }

    /// After the site answered `status`: an attach it refused is released, a detach it did
    /// releases the port; site IDs in the answer become top IDs.
    pub async fn finish(self, top: &Top, server: &Route, status: StatusCode, resp: &mut Response) {
        if !status.is_success() {
            self.abandon(top).await;
        } else if let Some(p) = &self.detached {
            servers::release_port(top, p).await;
        }
        if status.is_success() {
            to_top(top, server, resp).await;
        }
    }
}

/// The site's port, network and subnet IDs of an interface answer as the top's.
async fn to_top(top: &Top, server: &Route, resp: &mut Response) {
    let Some(site) = server.site_id.clone() else {
        return;
    };
    let Some(mut v) = crate::http::take_json(resp).await else {
        return;
    };
    if let Some(a) = v.get_mut("interfaceAttachment") {
        attachment(top, &site, a).await;
    }
    if let Some(all) = v
        .get_mut("interfaceAttachments")
        .and_then(Value::as_array_mut)
    {
        for a in all.iter_mut() {
            attachment(top, &site, a).await;
        }
    }
    crate::http::put_json(resp, &v);
}

/// Replaces `v[key]`, a site ID of `kind`, by its top ID when the top made it.
async fn top_id(top: &Top, site: &str, kind: &str, v: &mut Value, key: &str) {
    let Some(id) = v[key].as_str() else {
        return;
    };
    if let Ok(Some(p)) = top.store.piece_by_site_id(kind, site, id).await {
        v[key] = json!(p.top_id);
    }
}

async fn attachment(top: &Top, site: &str, a: &mut Value) {
    top_id(top, site, net_kind::PORT, a, "port_id").await;
    top_id(top, site, net_kind::NETWORK, a, "net_id").await;
    if let Some(fixed) = a.get_mut("fixed_ips").and_then(Value::as_array_mut) {
        for f in fixed.iter_mut() {
            top_id(top, site, net_kind::SUBNET, f, "subnet_id").await;
        }
    }
}
