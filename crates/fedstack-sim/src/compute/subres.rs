//! A server's sub-resources: metadata, tags (2.26+), ips, interfaces (`os-interface`) and
//! volume attachments (`os-volume_attachments`).

use super::quotas::QuotaKind;
use super::server::{Attachment, Server, VmState};
use super::servers::{lock_settled, viewer};
use super::{
    bad_request, conflict, empty, forbidden, json_status, no_resource, not_found, string_map, Res,
    HTML, JSON,
};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::network::{NicRequest, ServerNic};
use crate::site::{Site, SiteData};
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::ApiError;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The sub-resource routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route(
            "/v2.1/servers/{id}/metadata",
            get(metadata_list)
                .post(metadata_merge)
                .put(metadata_replace),
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            get(meta_show).put(meta_set).delete(meta_delete),
        )
        .route(
            "/v2.1/servers/{id}/tags",
            get(tags_list).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            get(tag_check).put(tag_add).delete(tag_delete),
        )
        .route("/v2.1/servers/{id}/ips", get(ips))
        .route("/v2.1/servers/{id}/ips/{network}", get(ips_of_network))
        .route(
            "/v2.1/servers/{id}/os-interface",
            get(interfaces).post(interface_attach),
        )
        .route(
            "/v2.1/servers/{id}/os-interface/{port}",
            get(interface_show).delete(interface_detach),
        )
        .route(
            "/v2.1/servers/{id}/os-volume_attachments",
            get(attachments).post(attach),
        )
        .route(
            "/v2.1/servers/{id}/os-volume_attachments/{volume}",
            get(attachment_show).delete(detach),
        )
}

/// Nova's 409 when a server's vm state does not allow changing it.
fn check_vm_state(verb: &str, s: &Server, allowed: &[VmState]) -> Result<(), ApiError> {
    if allowed.contains(&s.vm_state) {
        return Ok(());
    }
    Err(conflict(format!(
        "Cannot '{verb}' instance {} while it is in vm_state {}",
        s.id,
        s.vm_state.as_str()
    )))
}

const CHANGEABLE: [VmState; 4] = [
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

// ---------------------------------------------------------------- metadata

fn metadata_body_schema(key: &str) -> Value {
    json!({
        "type": "object",
        "properties": {key: schema::metadata()},
        "required": [key],
        "additionalProperties": false,
    })
}

async fn metadata_list(ctx: Ctx, Path(id): Path<String>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    Ok(Json(json!({"metadata": string_map(&s.metadata)})).into_response())
}

/// Applies a metadata change within the project's `metadata_items` quota.
fn change_metadata(
    ctx: &Ctx,
    id: &str,
    change: impl FnOnce(&mut IndexMap<String, String>),
) -> Result<IndexMap<String, String>, ApiError> {
    let mut g = lock_settled(ctx);
    let limit = g
        .compute
        .quotas
        .limit(ctx.project_id(), QuotaKind::MetadataItems);
    let s = g.compute.server_mut(ctx, id)?;
    check_vm_state("update metadata", s, &CHANGEABLE)?;
    let mut meta = s.metadata.clone();
    change(&mut meta);
    if limit >= 0 && meta.len() as i64 > limit {
        return Err(forbidden(format!(
            "Maximum number of metadata items exceeds {limit}"
        )));
    }
    s.metadata = meta.clone();
    s.updated = Utc::now();
    Ok(meta)
}

fn strings(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

async fn metadata_merge(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    validate(&metadata_body_schema("metadata"), &body)?;
    let items = strings(&body["metadata"]);
    let meta = change_metadata(&ctx, &id, |m| m.extend(items))?;
    Ok(Json(json!({ "metadata": string_map(&meta) })).into_response())
}

async fn metadata_replace(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    validate(&metadata_body_schema("metadata"), &body)?;
    let items = strings(&body["metadata"]);
    let meta = change_metadata(&ctx, &id, |m| *m = items.into_iter().collect())?;
    Ok(Json(json!({ "metadata": string_map(&meta) })).into_response())
}

fn meta_not_found() -> ApiError {
    not_found("Metadata item was not found")
}

async fn meta_show(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let v = s.metadata.get(&key).ok_or_else(meta_not_found)?;
    Ok(Json(json!({"meta": {key: v}})).into_response())
}

async fn meta_set(ctx: Ctx, Path((id, key)): Path<(String, String)>, OsJson(body): OsJson) -> Res {
    let schema = json!({
        "type": "object",
        "properties": {"meta": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
            "additionalProperties": false,
        }},
        "required": ["meta"],
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let items = strings(&body["meta"]);
    if items.len() > 1 {
        return Err(bad_request("Request body contains too many items"));
    }
    let Some((k, v)) = items.into_iter().next().filter(|(k, _)| *k == key) else {
        return Err(bad_request("Request body and URI mismatch"));
    };
    change_metadata(&ctx, &id, |m| {
        m.insert(k.clone(), v.clone());
    })?;
    Ok(Json(json!({"meta": {k: v}})).into_response())
}

async fn meta_delete(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> Res {
    let mut g = lock_settled(&ctx);
    let s = g.compute.server_mut(&ctx, &id)?;
    check_vm_state("delete metadata", s, &CHANGEABLE)?;
    s.metadata.shift_remove(&key).ok_or_else(meta_not_found)?;
    s.updated = Utc::now();
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}

// ---------------------------------------------------------------- tags

/// Nova's per-server tag limit.
const MAX_TAGS: usize = 50;

fn tags_since(mv: Mv) -> Result<(), ApiError> {
    if mv.at_least(2, 26) {
        Ok(())
    } else {
        Err(no_resource())
    }
}

async fn tags_list(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    tags_since(mv)?;
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    Ok(Json(json!({"tags": s.tags})).into_response())
}

fn tagged_server<'a>(ctx: &Ctx, g: &'a mut SiteData, id: &str) -> Result<&'a mut Server, ApiError> {
    let s = g.compute.server_mut(ctx, id)?;
    check_vm_state("update tag", s, &CHANGEABLE)?;
    Ok(s)
}

async fn tags_replace(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    tags_since(mv)?;
    let schema = json!({
        "type": "object",
        "properties": {"tags": {"type": "array", "items": schema::tag()}},
        "required": ["tags"],
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let tags: std::collections::BTreeSet<String> = body["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(bad_request(format!(
            "The number of tags exceeded the per-server limit {MAX_TAGS}"
        )));
    }
    let mut g = lock_settled(&ctx);
    let s = tagged_server(&ctx, &mut g, &id)?;
    s.tags = tags;
    s.updated = Utc::now();
    Ok(Json(json!({"tags": s.tags})).into_response())
}

async fn tags_clear(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    tags_since(mv)?;
    let mut g = lock_settled(&ctx);
    let s = tagged_server(&ctx, &mut g, &id)?;
    s.tags.clear();
    s.updated = Utc::now();
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}

fn no_tag(id: &str, tag: &str) -> ApiError {
    not_found(format!("Server {id} has no tag '{tag}'"))
}

async fn tag_check(ctx: Ctx, mv: Mv, Path((id, tag)): Path<(String, String)>) -> Res {
    tags_since(mv)?;
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    if !s.tags.contains(&tag) {
        return Err(no_tag(&id, &tag));
    }
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}

async fn tag_add(ctx: Ctx, mv: Mv, Path((id, tag)): Path<(String, String)>) -> Res {
    tags_since(mv)?;
    validate(&schema::tag(), &json!(tag)).map_err(|_| {
        bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non-empty string of at most 60 characters without ',' or '/'."
        ))
    })?;
    let mut g = lock_settled(&ctx);
    let s = tagged_server(&ctx, &mut g, &id)?;
    if s.tags.contains(&tag) {
        return Ok(empty(StatusCode::NO_CONTENT, HTML));
    }
    if s.tags.len() >= MAX_TAGS {
        return Err(bad_request(format!(
            "The number of tags exceeded the per-server limit {MAX_TAGS}"
        )));
    }
    s.tags.insert(tag.clone());
    s.updated = Utc::now();
    let mut resp = empty(StatusCode::CREATED, HTML);
    let location = format!("{}/v2.1/servers/{id}/tags/{tag}", super::root(&ctx.site));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn tag_delete(ctx: Ctx, mv: Mv, Path((id, tag)): Path<(String, String)>) -> Res {
    tags_since(mv)?;
    let mut g = lock_settled(&ctx);
    let s = tagged_server(&ctx, &mut g, &id)?;
    if !s.tags.remove(&tag) {
        return Err(no_tag(&id, &tag));
    }
    s.updated = Utc::now();
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}

// ---------------------------------------------------------------- ips

async fn ips(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let addresses = viewer(&ctx, mv, &g).addresses(s, false);
    Ok(Json(json!({ "addresses": addresses })).into_response())
}

async fn ips_of_network(ctx: Ctx, mv: Mv, Path((id, network)): Path<(String, String)>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let addresses = viewer(&ctx, mv, &g).addresses(s, false);
    let list = addresses
        .get(&network)
        .cloned()
        .ok_or_else(|| not_found("Instance is not a member of specified network"))?;
    Ok(Json(json!({ network: list })).into_response())
}

// ---------------------------------------------------------------- os-interface

fn interface_view(nic: &ServerNic, mv: Mv) -> Value {
    let fixed: Vec<Value> = nic
        .fixed_ips
        .iter()
        .map(|(ip, subnet)| json!({"subnet_id": subnet, "ip_address": ip.to_string()}))
        .collect();
    let mut v = json!({
        "net_id": nic.network_id, "port_id": nic.port_id, "mac_addr": nic.mac,
        "port_state": "ACTIVE", "fixed_ips": fixed,
    });
    if mv.at_least(2, 70) {
        v["tag"] = Value::Null;
    }
    v
}

async fn interfaces(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = lock_settled(&ctx);
    g.compute.server(&ctx, &id)?;
    let list: Vec<Value> = g
        .network
        .server_nics(&id)
        .iter()
        .map(|n| interface_view(n, mv))
        .collect();
    Ok(Json(json!({ "interfaceAttachments": list })).into_response())
}

fn port_not_found(port: &str) -> ApiError {
    not_found(format!("Port {port} could not be found."))
}

async fn interface_show(ctx: Ctx, mv: Mv, Path((id, port)): Path<(String, String)>) -> Res {
    let g = lock_settled(&ctx);
    g.compute.server(&ctx, &id)?;
    let nic = g
        .network
        .server_nics(&id)
        .into_iter()
        .find(|n| n.port_id == port)
        .ok_or_else(|| port_not_found(&port))?;
    Ok(Json(json!({"interfaceAttachment": interface_view(&nic, mv)})).into_response())
}

async fn interface_attach(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut props = json!({
        "net_id": {"type": "string", "format": "uuid"},
        "port_id": {"type": "string", "format": "uuid"},
        "fixed_ips": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "properties": {"ip_address": {"type": "string"}},
            "required": ["ip_address"], "additionalProperties": false}},
    });
    if mv.at_least(2, 49) {
        props["tag"] = schema::tag();
    }
    let schema = json!({
        "type": "object",
        "properties": {"interfaceAttachment": {"type": "object", "properties": props, "additionalProperties": false}},
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let a = &body["interfaceAttachment"];
    let mut g = lock_settled(&ctx);
    let SiteData {
        compute, network, ..
    } = &mut *g;
    let s = compute.server(&ctx, &id)?;
    check_vm_state(
        "attach_interface",
        s,
        &[VmState::Active, VmState::Paused, VmState::Stopped],
    )?;
    let nic = match (a["port_id"].as_str(), a["net_id"].as_str()) {
        (Some(p), _) => NicRequest::Port { id: p.to_string() },
        (None, net) => {
            let id = match net {
                Some(n) => n.to_string(),
                None => network.auto_network(ctx.project_id()).ok_or_else(|| {
                    bad_request("Unable to automatically allocate a network for project")
                })?,
            };
            let fixed_ip = match a["fixed_ips"][0]["ip_address"].as_str() {
                Some(ip) => Some(
                    ip.parse()
                        .map_err(|_| bad_request(format!("Invalid fixed IP address ({ip})")))?,
                ),
                None => None,
            };
            NicRequest::Network { id, fixed_ip }
        }
    };
    let host = s.host.clone().unwrap_or_default();
    let groups = s.security_groups.clone();
    let attached = network.plug_server(&s.project_id.clone(), &id, &host, &nic, &groups)?;
    Ok(Json(json!({"interfaceAttachment": interface_view(&attached, mv)})).into_response())
}

async fn interface_detach(ctx: Ctx, Path((id, port)): Path<(String, String)>) -> Res {
    let mut g = lock_settled(&ctx);
    let SiteData {
        compute, network, ..
    } = &mut *g;
    let s = compute.server(&ctx, &id)?;
    check_vm_state(
        "detach_interface",
        s,
        &[VmState::Active, VmState::Paused, VmState::Stopped],
    )?;
    network
        .unplug_port(&id, &port)
        .map_err(|_| port_not_found(&port))?;
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

// ---------------------------------------------------------------- os-volume_attachments

/// An attachment as list and show render it.
fn attachment_view(server_id: &str, a: &Attachment, mv: Mv) -> Value {
    let mut v = Map::new();
    if !mv.at_least(2, 89) {
        v.insert("id".into(), json!(a.volume_id));
    }
    v.insert("volumeId".into(), json!(a.volume_id));
    v.insert("serverId".into(), json!(server_id));
    v.insert("device".into(), json!(a.device));
    if mv.at_least(2, 70) {
        v.insert("tag".into(), json!(a.tag));
    }
    if mv.at_least(2, 79) {
        v.insert(
            "delete_on_termination".into(),
            json!(a.delete_on_termination),
        );
    }
    if mv.at_least(2, 89) {
        v.insert("attachment_id".into(), json!(a.attachment_id));
        v.insert("bdm_uuid".into(), json!(a.bdm_uuid));
    }
    Value::Object(v)
}

/// The answer to an attach (2.1–2.100): the volume ID as `id`, no attachment IDs.
fn attached_view(server_id: &str, a: &Attachment, mv: Mv) -> Value {
    let mut v = json!({"id": a.volume_id, "serverId": server_id, "volumeId": a.volume_id, "device": a.device});
    if mv.at_least(2, 70) {
        v["tag"] = json!(a.tag);
    }
    if mv.at_least(2, 79) {
        v["delete_on_termination"] = json!(a.delete_on_termination);
    }
    v
}

async fn attachments(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let list: Vec<Value> = s
        .volumes
        .iter()
        .map(|a| attachment_view(&id, a, mv))
        .collect();
    Ok(Json(json!({ "volumeAttachments": list })).into_response())
}

fn not_attached(volume: &str, id: &str) -> ApiError {
    not_found(format!(
        "Volume {volume} is not attached to the instance {id}"
    ))
}

async fn attachment_show(ctx: Ctx, mv: Mv, Path((id, volume)): Path<(String, String)>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let a = s
        .volumes
        .iter()
        .find(|a| a.volume_id == volume)
        .ok_or_else(|| not_attached(&volume, &id))?;
    Ok(Json(json!({"volumeAttachment": attachment_view(&id, a, mv)})).into_response())
}

/// The next free device name (`/dev/sdb`, `/dev/sdc`, ...), as Nova's fake driver gives.
fn next_device(s: &Server) -> String {
    ('b'..='z')
        .map(|c| format!("/dev/sd{c}"))
        .find(|d| s.volumes.iter().all(|a| a.device != *d))
        .unwrap_or_else(|| "/dev/sdz".into())
}

fn attach_schema(mv: Mv) -> Value {
    let mut props = json!({
        "volumeId": {"type": "string", "format": "uuid"},
        "device": {"type": ["string", "null"], "pattern": "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"},
    });
    if mv.at_least(2, 49) {
        props["tag"] = schema::tag();
    }
    if mv.at_least(2, 79) {
        props["delete_on_termination"] = schema::boolean();
    }
    json!({
        "type": "object",
        "properties": {"volumeAttachment": {"type": "object", "properties": props,
                       "required": ["volumeId"], "additionalProperties": false}},
        "required": ["volumeAttachment"],
        "additionalProperties": false,
    })
}

async fn attach(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    validate(&attach_schema(mv), &body)?;
    let req = &body["volumeAttachment"];
    let volume_id = req["volumeId"].as_str().unwrap_or_default().to_string();
    let mut g = lock_settled(&ctx);
    let SiteData {
        compute, volume, ..
    } = &mut *g;
    let s = compute.server(&ctx, &id)?;
    check_vm_state(
        "attach_volume",
        s,
        &[
            VmState::Active,
            VmState::Paused,
            VmState::Stopped,
            VmState::Suspended,
        ],
    )?;
    if let Some(other) = compute.volume_owner.get(&volume_id) {
        return Err(bad_request(format!(
            "Invalid volume: volume {volume_id} is already attached to instances: {other}"
        )));
    }
    let device = next_device(s);
    let host = s.host.clone().unwrap_or_default();
    let attachment_id = volume.attach(&s.project_id.clone(), &volume_id, &id, &host, &device)?;
    let a = Attachment {
        volume_id: volume_id.clone(),
        device,
        attachment_id,
        bdm_uuid: uuid::Uuid::new_v4().to_string(),
        tag: req["tag"].as_str().map(str::to_string),
        delete_on_termination: req.get("delete_on_termination").is_some_and(schema::truthy),
    };
    let answer = attached_view(&id, &a, mv);
    record_volume_action(&ctx, compute, &id, "attach_volume", "compute_attach_volume");
    compute.volume_owner.insert(volume_id, id.clone());
    if let Some(s) = compute.servers.get_mut(&id) {
        s.volumes.push(a);
    }
    if mv.at_least(2, 101) {
        return Ok(empty(StatusCode::ACCEPTED, HTML));
    }
    Ok(json_status(
        StatusCode::OK,
        json!({ "volumeAttachment": answer }),
    ))
}

fn record_volume_action(
    ctx: &Ctx,
    compute: &mut super::ComputeData,
    id: &str,
    action: &'static str,
    event: &'static str,
) {
    let now: DateTime<Utc> = Utc::now();
    if let Some(s) = compute.servers.get_mut(id) {
        s.record(action, event, ctx.user_id(), now, now);
    }
}

async fn detach(ctx: Ctx, Path((id, volume_id)): Path<(String, String)>) -> Res {
    let mut g = lock_settled(&ctx);
    let SiteData {
        compute, volume, ..
    } = &mut *g;
    let s = compute.server(&ctx, &id)?;
    if volume.volume_data(&volume_id).is_none() {
        return Err(not_found(format!("Volume {volume_id} could not be found.")));
    }
    let a = s
        .volumes
        .iter()
        .find(|a| a.volume_id == volume_id)
        .ok_or_else(|| not_attached(&volume_id, &id))?;
    if a.device == "/dev/vda" {
        return Err(bad_request("Can't detach root device volume"));
    }
    volume.detach(&volume_id, &id)?;
    compute.volume_owner.remove(&volume_id);
    record_volume_action(&ctx, compute, &id, "detach_volume", "compute_detach_volume");
    if let Some(s) = compute.servers.get_mut(&id) {
        s.volumes.retain(|a| a.volume_id != volume_id);
    }
    Ok(empty(StatusCode::ACCEPTED, JSON))
}
