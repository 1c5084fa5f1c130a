//! Servers: list (filters, sorting, paging), show, update, delete, and the settling of due
//! transitions (with the network and volume cleanup of finished deletions).

use super::server::{Server, Task, VmState};
use super::view::{basic, Section, Viewer};
use super::{bad_request, conflict, empty, next_link, not_found, policy, ComputeData, Res, JSON};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::{Site, SiteData};
use axum::extract::{Path, Query, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::pyrepr::repr;
use fedstack_api_types::{time, ApiError};
use parking_lot::MutexGuard;
use regex::Regex;
use serde_json::{json, Value};
use std::sync::Arc;

/// Nova's `[api] max_limit`.
const MAX_LIMIT: usize = 1000;

/// The server routes (actions and sub-resources live in their own modules).
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/servers", get(list).post(super::create::create))
        .route("/v2.1/servers/detail", get(detail))
        .route("/v2.1/servers/{id}", get(show).put(update).delete(delete))
}

/// Locks the site and applies every transition due by now.
pub fn lock_settled(ctx: &Ctx) -> MutexGuard<'_, SiteData> {
    let mut g = ctx.site.data.lock();
    settle(&mut g, Utc::now());
    g
}

/// Applies due transitions; finished deletions release their host, ports and volumes.
pub fn settle(g: &mut SiteData, now: DateTime<Utc>) {
    let gone = g.compute.servers.settle_due(now);
    for s in &gone {
        release_everything(g, s);
    }
}

/// Frees what a removed server held: its host resources, group membership, ports and volumes.
pub fn release_everything(g: &mut SiteData, s: &Server) {
    let SiteData {
        compute,
        network,
        volume,
        ..
    } = g;
    compute.release(s);
    network.unplug_server(&s.id);
    for a in &s.volumes {
        // Only this server's attachment goes; an already vanished volume is fine.
        let _ = volume.detach(&a.volume_id, &s.id);
        if a.delete_on_termination {
            volume.delete_for_server(&a.volume_id);
        }
    }
}

impl ComputeData {
    /// Gives back what a deleted server held on its host and in its group.
    fn release(&mut self, s: &Server) {
        if let Some(h) = &s.host {
            self.hosts.release(h, &s.id, s.resources);
        }
        if let Some(g) = &s.group {
            self.groups.remove_member(g, &s.id);
        }
        for a in &s.volumes {
            self.volume_owner.remove(&a.volume_id);
        }
    }

    /// A server the caller may see, or Nova's 404.
    pub(super) fn server(&self, ctx: &Ctx, id: &str) -> Result<&Server, ApiError> {
        self.servers
            .get(id)
            .filter(|s| ctx.is_admin() || s.project_id == ctx.project_id())
            .ok_or_else(|| server_not_found(id))
    }

    /// [`ComputeData::server`], mutable.
    pub(super) fn server_mut(&mut self, ctx: &Ctx, id: &str) -> Result<&mut Server, ApiError> {
        self.servers
            .get_mut(id)
            .filter(|s| ctx.is_admin() || s.project_id == ctx.project_id())
            .ok_or_else(|| server_not_found(id))
    }
}

/// Nova's 404 for an unknown server.
pub fn server_not_found(id: &str) -> ApiError {
    not_found(format!("Instance {id} could not be found."))
}

/// A renderer for this request.
pub fn viewer<'a>(ctx: &'a Ctx, mv: Mv, g: &'a SiteData) -> Viewer<'a> {
    Viewer {
        site: &ctx.site,
        mv,
        is_admin: ctx.is_admin(),
        now: Utc::now(),
        network: &g.network,
        hosts: &g.compute.hosts,
    }
}

async fn show(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = lock_settled(&ctx);
    let s = g.compute.server(&ctx, &id)?;
    let body = json!({"server": viewer(&ctx, mv, &g).server(s, Section::Show)});
    Ok(Json(body).into_response())
}

fn update_schema(mv: Mv) -> Value {
    let mut props = json!({
        "name": schema::name(),
        "accessIPv4": {"type": "string", "format": "ipv4"},
        "accessIPv6": {"type": "string", "format": "ipv6"},
        "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
    });
    if mv.at_least(2, 19) {
        props["description"] = schema::server_description();
    }
    if mv.at_least(2, 90) {
        props["hostname"] = schema::server_hostname();
    }
    json!({
        "type": "object",
        "properties": {"server": {"type": "object", "properties": props, "additionalProperties": false}},
        "required": ["server"],
        "additionalProperties": false,
    })
}

async fn update(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    validate(&update_schema(mv), &body)?;
    let b = &body["server"];
    let mut g = lock_settled(&ctx);
    let s = g.compute.server_mut(&ctx, &id)?;
    if let Some(n) = b["name"].as_str() {
        s.name = n.to_string();
    }
    if let Some(d) = b.get("description") {
        s.description = d.as_str().map(str::to_string);
    }
    if let Some(h) = b["hostname"].as_str() {
        s.hostname = h.to_string();
    }
    if let Some(ip) = b["accessIPv4"].as_str() {
        s.access_ipv4 = ip.to_string();
    }
    if let Some(ip) = b["accessIPv6"].as_str() {
        s.access_ipv6 = ip.to_string();
    }
    s.updated = Utc::now();
    let s = g.compute.server(&ctx, &id)?;
    let body = json!({"server": viewer(&ctx, mv, &g).server(s, Section::Update)});
    Ok(Json(body).into_response())
}

/// Fails with Nova's 409 when a member acts on a server an admin (or anyone) locked.
pub fn check_unlocked(ctx: &Ctx, s: &Server) -> Result<(), ApiError> {
    match &s.lock {
        Some(_) if !ctx.is_admin() => Err(conflict(format!("Instance {} is locked", s.id))),
        _ => Ok(()),
    }
}

async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let mut g = lock_settled(&ctx);
    let now = Utc::now();
    let delay = chrono::Duration::from_std(ctx.site.timing.action()).unwrap_or_default();
    let s = g.compute.server_mut(&ctx, &id)?;
    check_unlocked(&ctx, s)?;
    if s.pending.is_some_and(|p| p.task == Task::Delete) {
        return Ok(empty(StatusCode::NO_CONTENT, JSON));
    }
    s.record(
        "delete",
        "compute_terminate_instance",
        ctx.user_id(),
        now,
        now + delay,
    );
    g.compute
        .servers
        .begin(&id, Task::Delete, now, delay, VmState::Deleted);
    settle(&mut g, now);
    Ok(empty(StatusCode::NO_CONTENT, JSON))
}

/// List filters, as parsed from the query.
#[derive(Default)]
struct Filters {
    /// `None`: every project (admin with `all_tenants`).
    project: Option<String>,
    name: Option<Regex>,
    status: Option<String>,
    image: Option<String>,
    flavor: Option<String>,
    host: Option<String>,
    ip: Option<Regex>,
    reservation_id: Option<String>,
    user_id: Option<String>,
    locked: Option<bool>,
    since: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    tags: Vec<String>,
    tags_any: Vec<String>,
    not_tags: Vec<String>,
    not_tags_any: Vec<String>,
}

/// Every status Nova knows (a filter with another value is a 400).
const STATUSES: [&str; 20] = [
    "ACTIVE",
    "BUILD",
    "DELETED",
    "ERROR",
    "HARD_REBOOT",
    "MIGRATING",
    "PASSWORD",
    "PAUSED",
    "REBOOT",
    "REBUILD",
    "RESCUE",
    "RESIZE",
    "REVERT_RESIZE",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "SHUTOFF",
    "SOFT_DELETED",
    "SUSPENDED",
    "UNKNOWN",
    "VERIFY_RESIZE",
];

/// Sort keys accepted, with how to compare them.
const SORT_KEYS: [&str; 9] = [
    "created_at",
    "updated_at",
    "display_name",
    "uuid",
    "vm_state",
    "launched_at",
    "host",
    "project_id",
    "user_id",
];

fn bool_param(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(bad_request(format!(
            "Invalid input for query parameters {name}. Value: {v}. Unrecognized value '{v}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ))),
    }
}

fn pattern(v: &str) -> Regex {
    Regex::new(v).unwrap_or_else(|_| Regex::new(&regex::escape(v)).expect("escaped regex"))
}

fn time_param(name: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let schema = json!({"type": "string", "format": "date-time"});
    schema::validate_query(name, &schema, &json!(v))?;
    time::parse(v).ok_or_else(|| bad_request(format!("Invalid input for query parameters {name}.")))
}

fn csv(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_filters(
    ctx: &Ctx,
    mv: Mv,
    q: &[(String, String)],
    detail: bool,
) -> Result<Filters, ApiError> {
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let admin = ctx.is_admin();
    let mut f = Filters {
        project: Some(ctx.project_id().to_string()),
        ..Filters::default()
    };
    if let Some(v) = get("all_tenants") {
        if bool_param("all_tenants", v)? {
            if !admin {
                let list = if detail { "detail" } else { "index" };
                return Err(policy(&format!(
                    "os_compute_api:servers:{list}:get_all_tenants"
                )));
            }
            f.project = get("project_id").or(get("tenant_id")).map(str::to_string);
        }
    }
    f.name = get("name").map(pattern);
    if let Some(s) = get("status") {
        let s = s.to_ascii_uppercase();
        if !STATUSES.contains(&s.as_str()) {
            return Err(bad_request("Invalid status value"));
        }
        f.status = Some(s);
    }
    f.image = get("image").map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
    f.flavor = get("flavor").map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
    if admin {
        f.host = get("host").map(str::to_string);
    }
    f.ip = get("ip").or(get("ip6")).map(pattern);
    f.reservation_id = get("reservation_id").map(str::to_string);
    if admin || mv.at_least(2, 83) {
        f.user_id = get("user_id").map(str::to_string);
    }
    if mv.at_least(2, 73) {
        f.locked = get("locked").map(|v| bool_param("locked", v)).transpose()?;
    }
    f.since = get("changes-since")
        .map(|v| time_param("changes-since", v))
        .transpose()?;
    if mv.at_least(2, 66) {
        f.before = get("changes-before")
            .map(|v| time_param("changes-before", v))
            .transpose()?;
    }
    if let (Some(s), Some(b)) = (f.since, f.before) {
        if s > b {
            return Err(bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    if mv.at_least(2, 26) {
        f.tags = get("tags").map(csv).unwrap_or_default();
        f.tags_any = get("tags-any").map(csv).unwrap_or_default();
        f.not_tags = get("not-tags").map(csv).unwrap_or_default();
        f.not_tags_any = get("not-tags-any").map(csv).unwrap_or_default();
    }
    Ok(f)
}

impl Filters {
    fn matches(&self, s: &Server, now: DateTime<Utc>, g: &SiteData) -> bool {
        let has = |t: &String| s.tags.contains(t);
        self.project.as_ref().is_none_or(|p| *p == s.project_id)
            && self.name.as_ref().is_none_or(|r| r.is_match(&s.name))
            && self.status.as_ref().is_none_or(|st| s.status(now) == st)
            && self
                .image
                .as_ref()
                .is_none_or(|i| s.image_id.as_ref() == Some(i))
            && self.flavor.as_ref().is_none_or(|f| *f == s.flavor.id)
            && self
                .host
                .as_ref()
                .is_none_or(|h| s.host.as_ref() == Some(h))
            && self
                .reservation_id
                .as_ref()
                .is_none_or(|r| *r == s.reservation_id)
            && self.user_id.as_ref().is_none_or(|u| *u == s.user_id)
            && self.locked.is_none_or(|l| l == s.lock.is_some())
            && self.since.is_none_or(|t| s.updated >= t)
            && self.before.is_none_or(|t| s.updated <= t)
            && self.tags.iter().all(has)
            && (self.tags_any.is_empty() || self.tags_any.iter().any(has))
            && (self.not_tags.is_empty() || !self.not_tags.iter().all(has))
            && !self.not_tags_any.iter().any(has)
            && self.ip.as_ref().is_none_or(|r| {
                g.network
                    .server_nics(&s.id)
                    .iter()
                    .flat_map(|n| n.fixed_ips.iter())
                    .any(|(ip, _)| r.is_match(&ip.to_string()))
            })
    }
}

/// Paging and sorting options.
struct Paging {
    limit: usize,
    marker: Option<String>,
    sort_key: Option<String>,
    descending: bool,
}

fn parse_paging(q: &[(String, String)]) -> Result<Paging, ApiError> {
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit") {
        Some(l) => l.parse::<usize>().map_err(|_| {
            bad_request(format!(
                "Invalid input for query parameters limit. Value: {l}. '{l}' does not match '^[0-9]*$'"
            ))
        })?,
        None => MAX_LIMIT,
    };
    let sort_key = match get("sort_key") {
        Some(k) if SORT_KEYS.contains(&k) => Some(k.to_string()),
        Some(k) => {
            let keys: Vec<Value> = SORT_KEYS.iter().map(|k| json!(k)).collect();
            return Err(bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {k}. '{k}' is not one of {}",
                repr(&json!(keys))
            )));
        }
        None => None,
    };
    let descending = match get("sort_dir") {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(d) => {
            return Err(bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {d}. '{d}' is not one of ['asc', 'desc']"
            )))
        }
    };
    Ok(Paging {
        limit: limit.min(MAX_LIMIT),
        marker: get("marker").map(str::to_string),
        sort_key,
        descending,
    })
}

fn sort_value(s: &Server, key: &str) -> String {
    let t = |d: Option<DateTime<Utc>>| d.map(time::micros_naive).unwrap_or_default();
    match key {
        "updated_at" => t(Some(s.updated)),
        "display_name" => s.name.clone(),
        "uuid" => s.id.clone(),
        "vm_state" => s.vm_state.as_str().to_string(),
        "launched_at" => t(s.launched_at),
        "host" => s.host.clone().unwrap_or_default(),
        "project_id" => s.project_id.clone(),
        "user_id" => s.user_id.clone(),
        _ => format!("{:020}", s.seq),
    }
}

/// The servers a list answers, in order, after the marker: newest first from the creation
/// index (no full scan) unless sorting otherwise or looking at deleted servers too.
fn ordered<'a>(
    c: &'a ComputeData,
    f: &Filters,
    p: &Paging,
) -> Result<Box<dyn Iterator<Item = &'a Server> + 'a>, ApiError> {
    let marker_err = |m: &str| bad_request(format!("marker [{m}] not found"));
    let default_order = p.sort_key.as_deref().is_none_or(|k| k == "created_at") && p.descending;
    if default_order && f.since.is_none() {
        let after = match &p.marker {
            Some(m) => Some(c.servers.get(m).ok_or_else(|| marker_err(m))?.seq),
            None => None,
        };
        let ids = c.servers.ids_newest_first(f.project.as_deref(), after);
        return Ok(Box::new(ids.filter_map(|id| c.servers.get(id))));
    }
    let project = f.project.as_deref();
    let mut all: Vec<&Server> = c
        .servers
        .ids_newest_first(project, None)
        .filter_map(|id| c.servers.get(id))
        .chain(
            c.servers
                .deleted()
                .filter(|s| f.since.is_some() && project.is_none_or(|p| p == s.project_id)),
        )
        .collect();
    let key = p.sort_key.clone().unwrap_or_else(|| "created_at".into());
    all.sort_by(|a, b| {
        let o = sort_value(a, &key)
            .cmp(&sort_value(b, &key))
            .then(a.seq.cmp(&b.seq));
        if p.descending {
            o.reverse()
        } else {
            o
        }
    });
    if let Some(m) = &p.marker {
        let pos = all
            .iter()
            .position(|s| s.id == *m)
            .ok_or_else(|| marker_err(m))?;
        all.drain(..=pos);
    }
    Ok(Box::new(all.into_iter()))
}

async fn list(
    ctx: Ctx,
    mv: Mv,
    Query(q): Query<Vec<(String, String)>>,
    RawQuery(raw): RawQuery,
) -> Res {
    list_servers(&ctx, mv, &q, raw.as_deref(), false)
}

async fn detail(
    ctx: Ctx,
    mv: Mv,
    Query(q): Query<Vec<(String, String)>>,
    RawQuery(raw): RawQuery,
) -> Res {
    list_servers(&ctx, mv, &q, raw.as_deref(), true)
}

fn list_servers(ctx: &Ctx, mv: Mv, q: &[(String, String)], raw: Option<&str>, detail: bool) -> Res {
    let filters = parse_filters(ctx, mv, q, detail)?;
    let paging = parse_paging(q)?;
    let g = lock_settled(ctx);
    let now = Utc::now();
    let page: Vec<&Server> = ordered(&g.compute, &filters, &paging)?
        .filter(|s| filters.matches(s, now, &g))
        .take(paging.limit)
        .collect();
    let v = viewer(ctx, mv, &g);
    let servers: Vec<Value> = page
        .iter()
        .map(|s| {
            if detail {
                v.server(s, Section::List)
            } else {
                basic(&ctx.site, s)
            }
        })
        .collect();
    let mut body = json!({ "servers": servers });
    if let Some(last) = page.last().filter(|_| page.len() == paging.limit) {
        let path = if detail { "servers/detail" } else { "servers" };
        body["servers_links"] = next_link(&ctx.site, path, &kept_query(raw), &last.id);
    }
    Ok(Json(body).into_response())
}

/// The query of a list without its marker, ready to take `marker=...`.
fn kept_query(raw: Option<&str>) -> String {
    raw.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("marker="))
        .map(|p| format!("{p}&"))
        .collect()
}
