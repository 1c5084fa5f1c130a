//! Nova v2.1 of a simulated site: flavors, key pairs, simulated hypervisors with a scheduler,
//! servers with a lazy lifecycle and disks of real bytes, server groups, quotas, and the
//! admin views (hypervisors, services, availability zones), answering as Nova 2026.1 does.

mod actions;
mod api;
mod create;
mod flavors;
mod groups;
mod hosts;
mod infra;
mod keypairs;
mod quotas;
mod server;
mod servers;
mod subres;
mod view;

#[cfg(test)]
mod tests;

pub use api::router;

use crate::config::SiteSpec;
use crate::site::{Bootstrap, Site};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::collections::HashMap;

use flavors::Flavors;
use groups::ServerGroups;
use hosts::Hosts;
use keypairs::Keypairs;
use quotas::Quotas;
use server::Servers;

/// The compute state of a site.
#[derive(Debug)]
pub struct ComputeData {
    flavors: Flavors,
    keypairs: Keypairs,
    hosts: Hosts,
    quotas: Quotas,
    groups: ServerGroups,
    servers: Servers,
    /// Which server each attached volume belongs to.
    volume_owner: HashMap<String, String>,
}

impl ComputeData {
    /// Nova's default flavors and one compute host per `spec.hosts`, named
    /// `<site lowercased>-compute-N`.
    pub fn bootstrap(_b: &Bootstrap, spec: &SiteSpec) -> Self {
        ComputeData {
            flavors: Flavors::defaults(),
            keypairs: Keypairs::default(),
            hosts: Hosts::new(&spec.name, spec.hosts, spec.host),
            quotas: Quotas::default(),
            groups: ServerGroups::default(),
            servers: Servers::default(),
            volume_owner: HashMap::new(),
        }
    }

    /// The bytes of a server's disk, if the server exists.
    pub fn disk(&self, server_id: &str) -> Option<Bytes> {
        self.servers.get(server_id).map(|s| s.disk.bytes())
    }

    /// The volume a volume-backed server boots from (its `/dev/vda` attachment).
    pub fn root_volume(&self, server_id: &str) -> Option<String> {
        self.servers
            .get(server_id)?
            .volumes
            .iter()
            .find(|a| a.device == "/dev/vda")
            .map(|a| a.volume_id.clone())
    }

    /// Writes `data` at `offset` of a server's disk (growing it as needed).
    pub fn write_disk(&mut self, server_id: &str, offset: u64, data: &[u8]) -> Result<(), String> {
        let server = self
            .servers
            .get_mut(server_id)
            .ok_or_else(|| format!("no server {server_id}"))?;
        server.disk.write(offset, data)
    }

    /// Replaces a server's disk with `data`.
    pub fn replace_disk(&mut self, server_id: &str, data: Bytes) -> Result<(), String> {
        let server = self
            .servers
            .get_mut(server_id)
            .ok_or_else(|| format!("no server {server_id}"))?;
        server.disk.replace(data);
        Ok(())
    }

    /// Marks a compute host failed (its nova-compute service reports down) or recovered.
    /// Returns false when there is no such host.
    pub fn set_host_failed(&mut self, host: &str, failed: bool) -> bool {
        self.hosts.set_failed(host, failed)
    }
}

/// `http://127.0.0.1:PORT/compute`: the root Nova's links are built on.
fn root(site: &Site) -> String {
    site.service_root(Service::Compute)
}

/// Nova's `self` and `bookmark` links of a resource (`servers/<id>`, `flavors/1`).
fn links(site: &Site, path: &str) -> Value {
    fedstack_api_types::nova::links(&root(site), path)
}

/// Nova's `bookmark`-only link list (embedded image and flavor references).
fn bookmark(site: &Site, path: &str) -> Value {
    json!([{"rel": "bookmark", "href": format!("{}/{path}", root(site))}])
}

/// A `{"rel": "next"}` link list for a page that was filled up to `limit`.
fn next_link(site: &Site, collection: &str, query: &str, marker: &str) -> Value {
    json!([{"rel": "next", "href": format!("{}/v2.1/{collection}?{query}marker={marker}", root(site))}])
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    err(StatusCode::BAD_REQUEST, msg)
}

fn not_found(msg: impl Into<String>) -> ApiError {
    err(StatusCode::NOT_FOUND, msg)
}

fn forbidden(msg: impl Into<String>) -> ApiError {
    err(StatusCode::FORBIDDEN, msg)
}

/// Nova's 409, whose envelope key is `conflictingRequest`.
fn conflict(msg: impl Into<String>) -> ApiError {
    err(StatusCode::CONFLICT, msg).with_kind("conflictingRequest")
}

/// The 403 Nova answers when a policy rule denies the caller.
fn policy(rule: &str) -> ApiError {
    forbidden(format!("Policy doesn't allow {rule} to be performed."))
}

/// The 404 of a route that does not exist at the requested microversion.
fn no_resource() -> ApiError {
    not_found("The resource could not be found.")
}

/// Fails with the policy 403 unless the caller is an admin.
fn require_admin(ctx: &crate::ctx::Ctx, rule: &str) -> Result<(), ApiError> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(policy(rule))
    }
}

/// An answer without a body, with the content type Nova gives it.
fn empty(status: StatusCode, content_type: &'static str) -> Response {
    let mut r = status.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=UTF-8";

/// A JSON answer with a status.
fn json_status(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A string map (metadata) as a JSON object, in its order.
fn string_map(m: &indexmap::IndexMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// Handler result.
type Res = Result<Response, ApiError>;
