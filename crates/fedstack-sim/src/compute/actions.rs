//! Server actions (`POST /servers/{id}/action`) and the instance action log
//! (`os-instance-actions`).

use super::hosts::{Placement, Request};
use super::quotas::QuotaKind;
use super::server::{Action, Lock, Server, Task, VmState};
use super::servers::{check_unlocked, lock_settled, server_not_found};
use super::{
    bad_request, conflict, empty, forbidden, json_status, not_found, policy, require_admin, Res,
    HTML, JSON,
};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::image::{NewImage, Visibility};
use crate::site::{Site, SiteData};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::{time, ApiError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The action routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/servers/{id}/action", post(action))
        .route("/v2.1/servers/{id}/os-instance-actions", get(list_actions))
        .route(
            "/v2.1/servers/{id}/os-instance-actions/{request_id}",
            get(show_action),
        )
}

/// Nova's 409 for an action the server's state does not allow.
fn invalid_state(verb: &str, s: &Server, now: DateTime<Utc>) -> ApiError {
    let (attr, state) = match s.task_state(now) {
        Some(t) => ("task_state", t),
        None => ("vm_state", s.vm_state.as_str()),
    };
    conflict(format!(
        "Cannot '{verb}' instance {} while it is in {attr} {state}",
        s.id
    ))
}

/// Fails unless the server is idle and in one of `allowed` vm states.
fn check_state(
    verb: &str,
    s: &Server,
    allowed: &[VmState],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !allowed.contains(&s.vm_state) {
        return Err(conflict(format!(
            "Cannot '{verb}' instance {} while it is in vm_state {}",
            s.id,
            s.vm_state.as_str()
        )));
    }
    if s.pending.is_some() {
        return Err(invalid_state(verb, s, now));
    }
    Ok(())
}

fn action_delay(ctx: &Ctx) -> Duration {
    Duration::from_std(ctx.site.timing.action()).unwrap_or_default()
}

/// A simple state change: check, record, start the task.
struct Change {
    verb: &'static str,
    action: &'static str,
    event: &'static str,
    allowed: &'static [VmState],
    task: Task,
    then: VmState,
}

const STOP: Change = Change {
    verb: "stop",
    action: "stop",
    event: "compute_stop_instance",
    allowed: &[VmState::Active, VmState::Error],
    task: Task::PowerOff,
    then: VmState::Stopped,
};
const START: Change = Change {
    verb: "start",
    action: "start",
    event: "compute_start_instance",
    allowed: &[VmState::Stopped],
    task: Task::PowerOn,
    then: VmState::Active,
};
const PAUSE: Change = Change {
    verb: "pause",
    action: "pause",
    event: "compute_pause_instance",
    allowed: &[VmState::Active],
    task: Task::Pause,
    then: VmState::Paused,
};
const UNPAUSE: Change = Change {
    verb: "unpause",
    action: "unpause",
    event: "compute_unpause_instance",
    allowed: &[VmState::Paused],
    task: Task::Unpause,
    then: VmState::Active,
};
const SUSPEND: Change = Change {
    verb: "suspend",
    action: "suspend",
    event: "compute_suspend_instance",
    allowed: &[VmState::Active],
    task: Task::Suspend,
    then: VmState::Suspended,
};
const RESUME: Change = Change {
    verb: "resume",
    action: "resume",
    event: "compute_resume_instance",
    allowed: &[VmState::Suspended],
    task: Task::Resume,
    then: VmState::Active,
};
const SOFT_REBOOT: Change = Change {
    verb: "reboot",
    action: "reboot",
    event: "compute_reboot_instance",
    allowed: &[VmState::Active],
    task: Task::Reboot,
    then: VmState::Active,
};
const HARD_REBOOT: Change = Change {
    verb: "reboot",
    action: "reboot",
    event: "compute_reboot_instance",
    allowed: &[
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
        VmState::Error,
    ],
    task: Task::RebootHard,
    then: VmState::Active,
};

fn apply(ctx: &Ctx, g: &mut SiteData, id: &str, c: &Change) -> Res {
    let now = Utc::now();
    let delay = action_delay(ctx);
    let s = g.compute.server_mut(ctx, id)?;
    check_unlocked(ctx, s)?;
    check_state(c.verb, s, c.allowed, now)?;
    s.record(c.action, c.event, ctx.user_id(), now, now + delay);
    g.compute.servers.begin(id, c.task, now, delay, c.then);
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

async fn action(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let name = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let mut g = lock_settled(&ctx);
    g.compute.server(&ctx, &id)?;
    let g = &mut *g;
    match name.as_str() {
        "os-stop" => apply(&ctx, g, &id, &STOP),
        "os-start" => apply(&ctx, g, &id, &START),
        "pause" => apply(&ctx, g, &id, &PAUSE),
        "unpause" => apply(&ctx, g, &id, &UNPAUSE),
        "suspend" => apply(&ctx, g, &id, &SUSPEND),
        "resume" => apply(&ctx, g, &id, &RESUME),
        "reboot" => reboot(&ctx, g, &id, &body),
        "lock" => lock(&ctx, mv, g, &id, &body),
        "unlock" => unlock(&ctx, g, &id),
        "createImage" => create_image(&ctx, mv, g, &id, &body),
        "evacuate" => evacuate(&ctx, mv, g, &id, &body),
        "os-getConsoleOutput" => console_output(&ctx, g, &id, &body),
        "addSecurityGroup" | "removeSecurityGroup" => security_group(&ctx, g, &id, &body, &name),
        _ => Err(bad_request(format!("There is no such action: {name}"))),
    }
}

fn reboot(ctx: &Ctx, g: &mut SiteData, id: &str, body: &Value) -> Res {
    let schema = json!({
        "type": "object",
        "properties": {"reboot": {
            "type": "object",
            "properties": {"type": {"type": "string", "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
            "required": ["type"],
            "additionalProperties": false,
        }},
        "required": ["reboot"],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let hard = body["reboot"]["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("hard"));
    apply(ctx, g, id, if hard { &HARD_REBOOT } else { &SOFT_REBOOT })
}

fn lock(ctx: &Ctx, mv: Mv, g: &mut SiteData, id: &str, body: &Value) -> Res {
    let props = if mv.at_least(2, 73) {
        json!({"locked_reason": {"type": "string", "minLength": 1, "maxLength": 255}})
    } else {
        json!({})
    };
    let schema = json!({
        "type": "object",
        "properties": {"lock": {"type": ["object", "null"], "properties": props, "additionalProperties": false}},
        "required": ["lock"],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let now = Utc::now();
    let s = g.compute.server_mut(ctx, id)?;
    s.lock = Some(Lock {
        reason: body["lock"]["locked_reason"].as_str().map(str::to_string),
        by_admin: ctx.is_admin() && s.project_id != ctx.project_id(),
    });
    s.record("lock", "api_lock", ctx.user_id(), now, now);
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

fn unlock(ctx: &Ctx, g: &mut SiteData, id: &str) -> Res {
    let now = Utc::now();
    let s = g.compute.server_mut(ctx, id)?;
    if s.lock.as_ref().is_some_and(|l| l.by_admin) && !ctx.is_admin() {
        return Err(policy(
            "os_compute_api:os-lock-server:unlock:unlock_override",
        ));
    }
    s.lock = None;
    s.record("unlock", "api_unlock", ctx.user_id(), now, now);
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

/// `createImage`: an image whose bytes are the server's disk now, with Nova's snapshot
/// properties.
fn create_image(ctx: &Ctx, mv: Mv, g: &mut SiteData, id: &str, body: &Value) -> Res {
    let schema = json!({
        "type": "object",
        "properties": {"createImage": {
            "type": "object",
            "properties": {"name": schema::name(), "metadata": schema::metadata()},
            "required": ["name"],
            "additionalProperties": false,
        }},
        "required": ["createImage"],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let req = &body["createImage"];
    let now = Utc::now();
    let delay = action_delay(ctx);
    let image_delay = Duration::from_std(ctx.site.timing.image()).unwrap_or_default();
    let SiteData { compute, image, .. } = g;
    let allowed = compute
        .quotas
        .limit(ctx.project_id(), QuotaKind::MetadataItems);
    let extra = req["metadata"].as_object().cloned().unwrap_or_default();
    if allowed >= 0 && extra.len() as i64 > allowed {
        return Err(forbidden(format!(
            "Maximum number of metadata items exceeds {allowed}"
        )));
    }
    let s = compute.server_mut(ctx, id)?;
    check_unlocked(ctx, s)?;
    let states = [
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
    ];
    check_state("createImage", s, &states, now)?;
    let new = snapshot_image(s, req["name"].as_str().unwrap_or_default(), extra);
    let image_id = image.create_image_with_data(new, now + image_delay.max(delay));
    s.record(
        "createImage",
        "compute_snapshot_instance",
        ctx.user_id(),
        now,
        now + delay,
    );
    let then = s.vm_state;
    compute.servers.begin(id, Task::Snapshot, now, delay, then);
    if mv.at_least(2, 45) {
        return Ok(json_status(
            StatusCode::ACCEPTED,
            json!({ "image_id": image_id }),
        ));
    }
    let mut resp = empty(StatusCode::ACCEPTED, HTML);
    let location = format!("{}//images/{image_id}", super::root(&ctx.site));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The image Nova makes of a server: its disk's bytes and the snapshot properties.
fn snapshot_image(s: &Server, name: &str, extra: Map<String, Value>) -> NewImage {
    let mut properties = s.image_properties.clone();
    let base = s.image_id.clone().unwrap_or_default();
    for (k, v) in [
        ("image_type", "snapshot"),
        ("instance_uuid", s.id.as_str()),
        ("base_image_ref", base.as_str()),
        ("user_id", s.user_id.as_str()),
        ("image_location", "snapshot"),
        ("boot_roles", "member,reader"),
    ] {
        properties.insert(k.into(), json!(v));
    }
    properties.extend(extra);
    let data = s.disk.bytes();
    // Nova snapshots in the format of the instance's disk: qcow2 disks give qcow2 images,
    // raw ones raw images (a format Glance's inspector would refuse otherwise).
    let format = if data.starts_with(b"QFI\xfb") {
        "qcow2"
    } else {
        "raw"
    };
    NewImage {
        owner: s.project_id.clone(),
        name: name.to_string(),
        data,
        disk_format: Some(format.into()),
        container_format: Some("bare".into()),
        visibility: Visibility::Private,
        min_disk: s.flavor.disk,
        min_ram: 0,
        properties,
    }
}

/// `evacuate` (admins): rebuilds a server of a down host on another host.
fn evacuate(ctx: &Ctx, mv: Mv, g: &mut SiteData, id: &str, body: &Value) -> Res {
    require_admin(ctx, "os_compute_api:os-evacuate")?;
    let mut props = json!({"host": schema::name(), "adminPass": {"type": "string"}});
    if !mv.at_least(2, 14) {
        props["onSharedStorage"] = schema::boolean();
    }
    if mv.at_least(2, 29) && !mv.at_least(2, 68) {
        props["force"] = schema::boolean();
    }
    let schema = json!({
        "type": "object",
        "properties": {"evacuate": {"type": "object", "properties": props, "additionalProperties": false}},
        "required": ["evacuate"],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let now = Utc::now();
    let c = &mut g.compute;
    let s = c.server(ctx, id)?;
    let source = s.host.clone().unwrap_or_default();
    if c.hosts.get(&source).is_some_and(|h| h.is_up()) {
        return Err(bad_request(format!(
            "Compute service of {source} is still in use."
        )));
    }
    check_state(
        "evacuate",
        s,
        &[VmState::Active, VmState::Stopped, VmState::Error],
        now,
    )?;
    let target = body["evacuate"]["host"].as_str();
    if let Some(t) = target {
        if c.hosts.get(t).is_none() {
            return Err(not_found(format!("Compute host {t} not found.")));
        }
        if t == source {
            return Err(bad_request("The target host can't be the same one."));
        }
    }
    let (res, then) = (
        s.resources,
        match s.vm_state {
            VmState::Stopped => VmState::Stopped,
            _ => VmState::Active,
        },
    );
    let group = s
        .group
        .as_ref()
        .and_then(|gid| c.groups.visible(gid, "", true))
        .map(|grp| {
            let hosts = grp
                .members
                .iter()
                .filter(|m| *m != id)
                .filter_map(|m| c.servers.get(m).and_then(|o| o.host.clone()))
                .collect();
            (grp.placement(), hosts)
        })
        .filter(|(p, _)| !matches!(p, Placement::SoftAffinity | Placement::SoftAntiAffinity));
    let Some(dest) = c.hosts.schedule(&Request {
        resources: res,
        forced_host: target,
        group,
    }) else {
        return Err(bad_request(
            "No valid host was found. There are not enough hosts available.",
        ));
    };
    c.hosts.release(&source, id, res);
    c.hosts.claim(&dest, id, res);
    let delay = action_delay(ctx);
    if let Some(s) = c.servers.get_mut(id) {
        s.host = Some(dest);
        s.record(
            "evacuate",
            "compute_rebuild_instance",
            ctx.user_id(),
            now,
            now + delay,
        );
    }
    c.servers.begin(id, Task::Rebuild, now, delay, then);
    if mv.at_least(2, 14) {
        return Ok(empty(StatusCode::OK, JSON));
    }
    let pass = body["evacuate"]["adminPass"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    Ok(Json(json!({ "adminPass": pass })).into_response())
}

fn console_output(ctx: &Ctx, g: &mut SiteData, id: &str, body: &Value) -> Res {
    let s = g.compute.server(ctx, id)?;
    if s.vm_state != VmState::Active {
        return Err(conflict(format!("Instance {id} is not ready")));
    }
    let text = format!(
        "[    0.000000] Linux version 6.1.0 (fedstack-sim)\nlogin as 'cirros' user. default password: 'gocubsgo'. use 'sudo' for root.\n{} login: ",
        s.hostname
    );
    let lines: Vec<&str> = text.lines().collect();
    let keep = body["os-getConsoleOutput"]["length"]
        .as_i64()
        .filter(|n| *n >= 0)
        .map_or(lines.len(), |n| (n as usize).min(lines.len()));
    let output = lines[lines.len() - keep..].join("\n");
    Ok(Json(json!({ "output": output })).into_response())
}

fn security_group(ctx: &Ctx, g: &mut SiteData, id: &str, body: &Value, action: &str) -> Res {
    let schema = json!({
        "type": "object",
        "properties": {action: {"type": "object", "properties": {"name": schema::name()},
                                "required": ["name"], "additionalProperties": false}},
        "required": [action],
        "additionalProperties": false,
    });
    validate(&schema, body)?;
    let name = body[action]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    g.network
        .check_security_groups(ctx.project_id(), std::slice::from_ref(&name))?;
    let s = g.compute.server_mut(ctx, id)?;
    if action == "addSecurityGroup" {
        if !s.security_groups.contains(&name) {
            s.security_groups.push(name);
        }
    } else if s.security_groups.contains(&name) {
        s.security_groups.retain(|n| *n != name);
    } else {
        return Err(bad_request(format!(
            "Security group {name} not associated with the instance {id}"
        )));
    }
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

fn action_view(s: &Server, a: &Action, mv: Mv) -> Value {
    let mut v = json!({
        "action": a.action, "instance_uuid": s.id, "request_id": a.request_id,
        "user_id": a.user_id, "project_id": a.project_id,
        "start_time": time::micros_naive(a.start), "message": a.failed,
    });
    if mv.at_least(2, 58) {
        v["updated_at"] = json!(time::micros_naive(a.finish.max(a.start)));
    }
    v
}

fn event_view(ctx: &Ctx, s: &Server, a: &Action, mv: Mv, now: DateTime<Utc>) -> Value {
    let finished = a.finish <= now;
    let mut e = json!({
        "event": a.event,
        "start_time": time::micros_naive(a.start),
        "finish_time": finished.then(|| time::micros_naive(a.finish)),
        "result": if finished { json!(if a.failed.is_some() { "Error" } else { "Success" }) } else { Value::Null },
    });
    if ctx.is_admin() {
        e["traceback"] = Value::Null;
    }
    if mv.at_least(2, 62) {
        if ctx.is_admin() {
            e["host"] = json!(a.host);
        }
        let host_id = a
            .host
            .as_ref()
            .map(|h| {
                use sha2::Digest;
                hex::encode(sha2::Sha224::digest(format!("{}{h}", s.project_id)))
            })
            .unwrap_or_default();
        e["hostId"] = json!(host_id);
    }
    if mv.at_least(2, 84) {
        e["details"] = Value::Null;
    }
    e
}

async fn list_actions(
    ctx: Ctx,
    mv: Mv,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let paging = mv.at_least(2, 58);
    let since = match q.get("changes-since").filter(|_| paging) {
        Some(v) => {
            schema::validate_query(
                "changes-since",
                &json!({"type": "string", "format": "date-time"}),
                &json!(v),
            )?;
            time::parse(v)
        }
        None => None,
    };
    let mut list: Vec<&Action> = s
        .actions
        .iter()
        .rev()
        .filter(|a| since.is_none_or(|t| a.finish.max(a.start) >= t))
        .collect();
    if let Some(m) = q.get("marker").filter(|_| paging) {
        let pos = list
            .iter()
            .position(|a| a.request_id == *m)
            .ok_or_else(|| bad_request(format!("Marker {m} could not be found.")))?;
        list.drain(..=pos);
    }
    if let Some(l) = q.get("limit").filter(|_| paging) {
        let l: usize = l.parse().map_err(|_| {
            bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}. '{l}' does not match '^[0-9]*$'"
            ))
        })?;
        list.truncate(l);
    }
    let actions: Vec<Value> = list.iter().map(|a| action_view(s, a, mv)).collect();
    Ok(Json(json!({ "instanceActions": actions })).into_response())
}

async fn show_action(ctx: Ctx, mv: Mv, Path((id, request_id)): Path<(String, String)>) -> Res {
    let g = lock_settled(&ctx);
    let s = g
        .compute
        .server(&ctx, &id)
        .map_err(|_| server_not_found(&id))?;
    let a = s
        .actions
        .iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| {
            not_found(format!(
                "Action for request_id {request_id} on instance {id} not found"
            ))
        })?;
    let mut v = action_view(s, a, mv);
    if ctx.is_admin() || mv.at_least(2, 51) {
        v["events"] = json!([event_view(&ctx, s, a, mv, Utc::now())]);
    }
    Ok(Json(json!({ "instanceAction": v })).into_response())
}
