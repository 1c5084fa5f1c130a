//! The admin views of the simulated hypervisors: `os-hypervisors`, `os-services` and
//! `os-availability-zone` (and the empty `os-aggregates`).

use super::hosts::{Host, ServiceState};
use super::{bad_request, no_resource, not_found, require_admin, ComputeData, Res};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, SubsecRound, Utc};
use fedstack_api_types::jsonschema::is_uuid_like;
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::{time, ApiError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The admin infrastructure routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/os-hypervisors", get(hypervisors))
        .route("/v2.1/os-hypervisors/detail", get(hypervisors_detail))
        .route("/v2.1/os-hypervisors/statistics", get(statistics))
        .route("/v2.1/os-hypervisors/{id}", get(hypervisor))
        .route("/v2.1/os-hypervisors/{id}/uptime", get(uptime))
        .route("/v2.1/os-hypervisors/{pattern}/search", get(search))
        .route("/v2.1/os-hypervisors/{pattern}/servers", get(host_servers))
        .route("/v2.1/os-services", get(services))
        .route("/v2.1/os-services/{id}", put(update_service))
        .route("/v2.1/os-availability-zone", get(zones))
        .route("/v2.1/os-availability-zone/detail", get(zones_detail))
        .route("/v2.1/os-aggregates", get(aggregates))
}

/// `GET /os-aggregates`: the simulated site has no host aggregates.
async fn aggregates(ctx: Ctx) -> Res {
    require_admin(&ctx, "os_compute_api:os-aggregates:index")?;
    Ok(Json(json!({ "aggregates": [] })).into_response())
}

fn rule(name: &str) -> String {
    format!("os_compute_api:os-hypervisors:{name}")
}

fn cpu_info(h: &Host) -> Value {
    json!({"arch": "x86_64", "model": "Nehalem", "vendor": "Intel", "features": ["pge", "clflush"],
           "topology": {"cores": 1, "threads": 1, "sockets": h.spec.vcpus}})
}

/// Servers on the host that have a task under way.
fn workload(c: &ComputeData, h: &Host) -> usize {
    h.servers
        .iter()
        .filter_map(|id| c.servers.get(id))
        .filter(|s| s.pending.is_some())
        .count()
}

fn hypervisor_view(c: &ComputeData, h: &Host, mv: Mv, detail: bool, with_servers: bool) -> Value {
    let new_ids = mv.at_least(2, 53);
    let mut v = Map::new();
    let id = if new_ids {
        json!(h.hypervisor_uuid)
    } else {
        json!(h.hypervisor_id)
    };
    v.insert("id".into(), id);
    v.insert("hypervisor_hostname".into(), json!(h.name));
    v.insert("state".into(), json!(if h.is_up() { "up" } else { "down" }));
    let status = if h.service.disabled {
        "disabled"
    } else {
        "enabled"
    };
    v.insert("status".into(), json!(status));
    if detail {
        v.insert("hypervisor_type".into(), json!("fake"));
        v.insert("hypervisor_version".into(), json!(1000));
        v.insert("host_ip".into(), json!("127.0.0.1"));
        let service_id = if new_ids {
            json!(h.service.uuid)
        } else {
            json!(h.service.id)
        };
        v.insert(
            "service".into(),
            json!({"id": service_id, "host": h.name, "disabled_reason": h.service.disabled_reason}),
        );
        if mv.at_least(2, 88) {
            v.insert("uptime".into(), Value::Null);
        } else {
            v.extend(resources(c, h));
            let info = cpu_info(h);
            let info = if mv.at_least(2, 28) {
                info
            } else {
                json!(info.to_string())
            };
            v.insert("cpu_info".into(), info);
        }
    }
    if with_servers && !h.servers.is_empty() {
        let servers: Vec<Value> = h
            .servers
            .iter()
            .filter_map(|id| c.servers.get(id))
            .map(|s| json!({"name": super::view::instance_name(s), "uuid": s.id}))
            .collect();
        v.insert("servers".into(), json!(servers));
    }
    Value::Object(v)
}

/// The resource fields of a hypervisor (before 2.88).
fn resources(c: &ComputeData, h: &Host) -> Map<String, Value> {
    let mem_used = h.memory_mb_used();
    let fields = [
        ("vcpus", json!(h.spec.vcpus)),
        ("memory_mb", json!(h.spec.memory_mb)),
        ("local_gb", json!(h.spec.disk_gb)),
        ("vcpus_used", json!(h.used.vcpus)),
        ("memory_mb_used", json!(mem_used)),
        ("local_gb_used", json!(h.used.disk)),
        (
            "free_ram_mb",
            json!(h.spec.memory_mb as i64 - mem_used as i64),
        ),
        (
            "free_disk_gb",
            json!(h.spec.disk_gb as i64 - h.used.disk as i64),
        ),
        ("current_workload", json!(workload(c, h))),
        ("running_vms", json!(h.servers.len())),
        ("disk_available_least", json!(0)),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Hypervisor list options: 2.33 paging, 2.53 `with_servers` and hostname pattern.
fn listed<'a>(
    c: &'a ComputeData,
    mv: Mv,
    q: &HashMap<String, String>,
) -> Result<Vec<&'a Host>, ApiError> {
    let pattern = q
        .get("hypervisor_hostname_pattern")
        .filter(|_| mv.at_least(2, 53));
    let mut hosts: Vec<&Host> = c
        .hosts
        .hosts
        .values()
        .filter(|h| pattern.is_none_or(|p| h.name.contains(p.as_str())))
        .collect();
    if !mv.at_least(2, 33) {
        return Ok(hosts);
    }
    if let Some(m) = q.get("marker") {
        let pos = hosts
            .iter()
            .position(|h| h.hypervisor_uuid == *m || h.hypervisor_id.to_string() == *m)
            .ok_or_else(|| bad_request(format!("marker [{m}] not found")))?;
        hosts.drain(..=pos);
    }
    if let Some(l) = q.get("limit") {
        let l: usize = l.parse().map_err(|_| {
            bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}. '{l}' does not match '^[0-9]*$'"
            ))
        })?;
        hosts.truncate(l);
    }
    Ok(hosts)
}

fn with_servers(mv: Mv, q: &HashMap<String, String>) -> bool {
    mv.at_least(2, 53)
        && q.get("with_servers")
            .is_some_and(|v| schema::truthy(&json!(v)))
}

async fn hypervisors(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    require_admin(&ctx, &rule("list"))?;
    list_hypervisors(&ctx, mv, &q, false)
}

async fn hypervisors_detail(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    require_admin(&ctx, &rule("list-detail"))?;
    list_hypervisors(&ctx, mv, &q, true)
}

fn list_hypervisors(ctx: &Ctx, mv: Mv, q: &HashMap<String, String>, detail: bool) -> Res {
    let g = super::servers::lock_settled(ctx);
    let c = &g.compute;
    let servers = with_servers(mv, q);
    let list: Vec<Value> = listed(c, mv, q)?
        .into_iter()
        .map(|h| hypervisor_view(c, h, mv, detail, servers))
        .collect();
    Ok(Json(json!({ "hypervisors": list })).into_response())
}

fn find_hypervisor<'a>(c: &'a ComputeData, mv: Mv, id: &str) -> Result<&'a Host, ApiError> {
    if mv.at_least(2, 53) && !is_uuid_like(id) {
        return Err(bad_request(format!("Invalid uuid {id}")));
    }
    c.hosts
        .hosts
        .values()
        .find(|h| {
            if mv.at_least(2, 53) {
                h.hypervisor_uuid == id
            } else {
                h.hypervisor_id.to_string() == id
            }
        })
        .ok_or_else(|| not_found(format!("Hypervisor with ID '{id}' could not be found.")))
}

async fn hypervisor(
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    require_admin(&ctx, &rule("show"))?;
    let g = super::servers::lock_settled(&ctx);
    let c = &g.compute;
    let h = find_hypervisor(c, mv, &id)?;
    let v = hypervisor_view(c, h, mv, true, with_servers(mv, &q));
    Ok(Json(json!({ "hypervisor": v })).into_response())
}

async fn uptime(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    if mv.at_least(2, 88) {
        return Err(no_resource());
    }
    require_admin(&ctx, &rule("uptime"))?;
    let g = ctx.site.data.lock();
    let h = find_hypervisor(&g.compute, mv, &id)?;
    let mut v = hypervisor_view(&g.compute, h, mv, false, false);
    v["uptime"] = json!(" 08:32:11 up 93 days, 18:25, 12 users,  load average: 0.20, 0.12, 0.14");
    Ok(Json(json!({ "hypervisor": v })).into_response())
}

async fn search(ctx: Ctx, mv: Mv, Path(pattern): Path<String>) -> Res {
    by_pattern(&ctx, mv, &pattern, "search", false)
}

async fn host_servers(ctx: Ctx, mv: Mv, Path(pattern): Path<String>) -> Res {
    by_pattern(&ctx, mv, &pattern, "servers", true)
}

/// `/os-hypervisors/{pattern}/search|servers` (removed at 2.53).
fn by_pattern(ctx: &Ctx, mv: Mv, pattern: &str, name: &str, servers: bool) -> Res {
    if mv.at_least(2, 53) {
        return Err(no_resource());
    }
    require_admin(ctx, &rule(name))?;
    let g = super::servers::lock_settled(ctx);
    let c = &g.compute;
    let found: Vec<Value> = c
        .hosts
        .hosts
        .values()
        .filter(|h| h.name.contains(pattern))
        .map(|h| {
            let mut v = hypervisor_view(c, h, mv, false, false);
            if servers && !h.servers.is_empty() {
                let list: Vec<Value> = h
                    .servers
                    .iter()
                    .filter_map(|id| c.servers.get(id))
                    .map(|s| json!({"name": super::view::instance_name(s), "uuid": s.id}))
                    .collect();
                v["servers"] = json!(list);
            }
            v
        })
        .collect();
    if found.is_empty() {
        return Err(not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    Ok(Json(json!({ "hypervisors": found })).into_response())
}

async fn statistics(ctx: Ctx, mv: Mv) -> Res {
    if mv.at_least(2, 88) {
        return Err(no_resource());
    }
    require_admin(&ctx, &rule("statistics"))?;
    let g = super::servers::lock_settled(&ctx);
    let c = &g.compute;
    let mut totals: HashMap<String, i64> = HashMap::new();
    for h in c.hosts.hosts.values() {
        for (k, v) in resources(c, h) {
            *totals.entry(k).or_default() += v.as_i64().unwrap_or(0);
        }
    }
    let mut stats = Map::new();
    stats.insert("count".into(), json!(c.hosts.hosts.len()));
    let mut keys: Vec<&String> = totals.keys().collect();
    keys.sort();
    for k in keys {
        stats.insert(k.clone(), json!(totals[k]));
    }
    Ok(Json(json!({ "hypervisor_statistics": stats })).into_response())
}

/// When a service last reported: now while up, when it went down otherwise.
fn reported(up: bool, since: Option<DateTime<Utc>>) -> String {
    let t = if up {
        Utc::now()
    } else {
        since.unwrap_or_else(Utc::now)
    };
    time::micros_naive(t.trunc_subsecs(0))
}

fn service_view(s: &ServiceState, up: bool, down_since: Option<DateTime<Utc>>, mv: Mv) -> Value {
    let mut v = Map::new();
    v.insert("binary".into(), json!(s.binary));
    v.insert("host".into(), json!(s.host));
    let id = if mv.at_least(2, 53) {
        json!(s.uuid)
    } else {
        json!(s.id)
    };
    v.insert("id".into(), id);
    v.insert("zone".into(), json!(s.zone()));
    let status = if s.disabled { "disabled" } else { "enabled" };
    v.insert("status".into(), json!(status));
    v.insert("state".into(), json!(if up { "up" } else { "down" }));
    v.insert("updated_at".into(), json!(reported(up, down_since)));
    v.insert("disabled_reason".into(), json!(s.disabled_reason));
    if mv.at_least(2, 11) {
        v.insert("forced_down".into(), json!(s.forced_down));
    }
    Value::Object(v)
}

fn down_since(c: &ComputeData, s: &ServiceState) -> Option<DateTime<Utc>> {
    c.hosts.get(&s.host).and_then(|h| h.failed_since)
}

async fn services(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    require_admin(&ctx, "os_compute_api:os-services:list")?;
    let g = ctx.site.data.lock();
    let c = &g.compute;
    let list: Vec<Value> = c
        .hosts
        .services()
        .filter(|(s, _)| q.get("host").is_none_or(|h| *h == s.host))
        .filter(|(s, _)| q.get("binary").is_none_or(|b| b == s.binary))
        .map(|(s, up)| service_view(s, up, down_since(c, s), mv))
        .collect();
    Ok(Json(json!({ "services": list })).into_response())
}

/// `PUT /os-services/{uuid}` (2.53+) or the older `PUT /os-services/{action}`.
async fn update_service(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "os_compute_api:os-services:update")?;
    if mv.at_least(2, 53) {
        update_by_id(&ctx, mv, &id, &body)
    } else {
        update_by_action(&ctx, mv, &id, &body)
    }
}

fn update_by_id(ctx: &Ctx, mv: Mv, id: &str, body: &Value) -> Res {
    let schema = json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
            "forced_down": schema::boolean(),
        },
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let status = body["status"].as_str();
    let reason = body["disabled_reason"].as_str();
    if reason.is_some() && status != Some("disabled") {
        return Err(bad_request(
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        ));
    }
    if status.is_none() && body.get("forced_down").is_none() {
        return Err(bad_request(
            "At least one of 'status' or 'forced_down' must be specified in the request body.",
        ));
    }
    let mut g = ctx.site.data.lock();
    let c = &mut g.compute;
    let s = c
        .hosts
        .service_mut(id)
        .ok_or_else(|| not_found(format!("Service {id} could not be found.")))?;
    if s.binary != "nova-compute" {
        return Err(bad_request(format!(
            "Updating a {} service is not supported. Only nova-compute services can be updated.",
            s.binary
        )));
    }
    if let Some(st) = status {
        s.disabled = st == "disabled";
        s.disabled_reason = if s.disabled {
            reason.map(str::to_string)
        } else {
            None
        };
    }
    if let Some(f) = body.get("forced_down") {
        s.forced_down = schema::truthy(f);
    }
    let s = s.clone();
    let up = c.hosts.get(&s.host).is_some_and(Host::is_up);
    let v = service_view(&s, up, down_since(c, &s), mv);
    Ok(Json(json!({ "service": v })).into_response())
}

fn update_by_action(ctx: &Ctx, mv: Mv, action: &str, body: &Value) -> Res {
    let known = matches!(action, "enable" | "disable" | "disable-log-reason")
        || (action == "force-down" && mv.at_least(2, 11));
    if !known {
        return Err(not_found("Unknown action"));
    }
    let schema = json!({
        "type": "object",
        "properties": {
            "host": schema::name(), "binary": {"type": "string", "minLength": 1, "maxLength": 255},
            "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
            "forced_down": schema::boolean(),
        },
        "required": ["host", "binary"],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let host = body["host"].as_str().unwrap_or_default();
    let binary = body["binary"].as_str().unwrap_or_default();
    let mut g = ctx.site.data.lock();
    let h = g
        .compute
        .hosts
        .hosts
        .get_mut(host)
        .filter(|_| binary == "nova-compute")
        .ok_or_else(|| not_found(format!("Compute host {host} could not be found.")))?;
    let s = &mut h.service;
    let mut answer = json!({"host": host, "binary": binary});
    match action {
        "enable" => {
            s.disabled = false;
            s.disabled_reason = None;
            answer["status"] = json!("enabled");
        }
        "force-down" => {
            s.forced_down = body.get("forced_down").is_some_and(schema::truthy);
            answer["forced_down"] = json!(s.forced_down);
        }
        _ => {
            s.disabled = true;
            answer["status"] = json!("disabled");
            if action == "disable-log-reason" {
                let reason = body["disabled_reason"]
                    .as_str()
                    .ok_or_else(|| bad_request("Missing disabled reason field"))?;
                s.disabled_reason = Some(reason.to_string());
                answer["disabled_reason"] = json!(reason);
            }
        }
    }
    Ok(Json(json!({ "service": answer })).into_response())
}

async fn zones(ctx: Ctx) -> Res {
    let g = ctx.site.data.lock();
    let available = g.compute.hosts.hosts.values().any(|h| !h.service.disabled);
    Ok(Json(json!({"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": available}, "hosts": null}
    ]}))
    .into_response())
}

async fn zones_detail(ctx: Ctx) -> Res {
    require_admin(&ctx, "os_compute_api:os-availability-zone:detail")?;
    let g = ctx.site.data.lock();
    let c = &g.compute;
    let mut internal = Map::new();
    let mut nova = Map::new();
    for (s, up) in c.hosts.services() {
        let zone = if s.zone() == "nova" {
            &mut nova
        } else {
            &mut internal
        };
        let entry = zone.entry(s.host.clone()).or_insert_with(|| json!({}));
        entry[s.binary] = json!({"available": up, "active": !s.disabled,
                                 "updated_at": reported(up, down_since(c, s))});
    }
    let nova_available = c.hosts.hosts.values().any(|h| !h.service.disabled);
    Ok(Json(json!({"availabilityZoneInfo": [
        {"zoneName": "internal", "zoneState": {"available": true}, "hosts": internal},
        {"zoneName": "nova", "zoneState": {"available": nova_available}, "hosts": nova},
    ]}))
    .into_response())
}
