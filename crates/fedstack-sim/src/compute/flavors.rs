//! Flavors: Nova's defaults, the per-microversion views, admin create/update/delete,
//! flavor access and extra specs.

use super::{bad_request, conflict, empty, next_link, not_found, require_admin, Res, JSON};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova::schema::{self, validate};
use fedstack_api_types::nova::{self, FlavorView};
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// A flavor.
#[derive(Debug, Clone)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub ram: u64,
    pub vcpus: u32,
    pub disk: u64,
    pub ephemeral: u64,
    pub swap: u64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub description: Option<String>,
    pub extra_specs: BTreeMap<String, String>,
    /// Projects given access to a private flavor.
    pub projects: BTreeSet<String>,
}

impl Flavor {
    fn new(id: &str, name: &str, ram: u64, disk: u64, vcpus: u32) -> Self {
        Flavor {
            id: id.into(),
            name: name.into(),
            ram,
            vcpus,
            disk,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            description: None,
            extra_specs: BTreeMap::new(),
            projects: BTreeSet::new(),
        }
    }

    /// True when `project_id` may use the flavor (admins may use any).
    pub fn usable_by(&self, project_id: &str, is_admin: bool) -> bool {
        is_admin || self.is_public || self.projects.contains(project_id)
    }
}

/// The flavors of a site, sorted by flavor ID as Nova lists them.
#[derive(Debug)]
pub struct Flavors {
    by_id: BTreeMap<String, Flavor>,
}

impl Flavors {
    /// Nova's classic flavors (m1.tiny = 1 ... m1.xlarge = 5) and devstack's m1.nano (42) and
    /// m1.micro (84).
    pub fn defaults() -> Self {
        let all = [
            Flavor::new("1", "m1.tiny", 512, 1, 1),
            Flavor::new("2", "m1.small", 2048, 20, 1),
            Flavor::new("3", "m1.medium", 4096, 40, 2),
            Flavor::new("4", "m1.large", 8192, 80, 4),
            Flavor::new("5", "m1.xlarge", 16384, 160, 8),
            Flavor::new("42", "m1.nano", 128, 1, 1),
            Flavor::new("84", "m1.micro", 192, 1, 1),
        ];
        Flavors {
            by_id: all.into_iter().map(|f| (f.id.clone(), f)).collect(),
        }
    }

    /// The flavor `id` if the caller may see it.
    pub fn visible(&self, id: &str, project_id: &str, is_admin: bool) -> Option<&Flavor> {
        self.by_id
            .get(id)
            .filter(|f| f.usable_by(project_id, is_admin))
    }

    fn visible_mut(&mut self, id: &str, ctx: &Ctx) -> Result<&mut Flavor, ApiError> {
        self.by_id
            .get_mut(id)
            .filter(|f| f.usable_by(ctx.project_id(), ctx.is_admin()))
            .ok_or_else(|| flavor_not_found(id))
    }
}

/// Nova's 404 for an unknown flavor.
pub fn flavor_not_found(id: &str) -> ApiError {
    not_found(format!("Flavor {id} could not be found."))
}

/// The flavor routes.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/v2.1/flavors", get(list).post(create))
        .route("/v2.1/flavors/detail", get(detail))
        .route("/v2.1/flavors/{id}", get(show).put(update).delete(delete))
        .route("/v2.1/flavors/{id}/os-flavor-access", get(access_list))
        .route(
            "/v2.1/flavors/{id}/action",
            axum::routing::post(access_action),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(specs_list).post(specs_create),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(spec_show).put(spec_update).delete(spec_delete),
        )
}

/// A flavor as Nova shows it at `mv` (`detail` adds the sizes and, from 2.61, the extra
/// specs, which every caller may read).
fn view(site: &Site, f: &Flavor, mv: Mv, detail: bool) -> Value {
    let v = FlavorView {
        id: &f.id,
        name: &f.name,
        vcpus: i64::from(f.vcpus),
        ram: f.ram as i64,
        disk: f.disk as i64,
        ephemeral: f.ephemeral as i64,
        swap: f.swap as i64,
        rxtx_factor: f.rxtx_factor,
        is_public: f.is_public,
        description: f.description.as_deref(),
        extra_specs: &f.extra_specs,
    };
    let root = super::root(site);
    if detail {
        nova::flavor_detail(&root, &v, mv.0, true)
    } else {
        nova::flavor_brief(&root, &v, mv.0)
    }
}

async fn list(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    list_flavors(&ctx, mv, &q, false)
}

async fn detail(ctx: Ctx, mv: Mv, Query(q): Query<HashMap<String, String>>) -> Res {
    list_flavors(&ctx, mv, &q, true)
}

/// Flavor list filters: `is_public` (admin), `minRam`, `minDisk`, paging by `marker`/`limit`.
fn list_flavors(ctx: &Ctx, mv: Mv, q: &HashMap<String, String>, detail: bool) -> Res {
    let min_ram = int_param(q, "minRam")?;
    let min_disk = int_param(q, "minDisk")?;
    let limit = int_param(q, "limit")?.map(|l| l as usize);
    let public_filter = public_filter(ctx, q);
    let g = ctx.site.data.lock();
    let flavors = &g.compute.flavors.by_id;
    let mut candidates = flavors
        .values()
        .filter(|f| match public_filter {
            Some(p) => f.is_public == p || (p && f.projects.contains(ctx.project_id())),
            None => true,
        })
        .filter(|f| min_ram.is_none_or(|m| f.ram >= m))
        .filter(|f| min_disk.is_none_or(|m| f.disk >= m))
        .peekable();
    if let Some(marker) = q.get("marker") {
        if !flavors.contains_key(marker) {
            return Err(bad_request(format!("marker [{marker}] not found")));
        }
        while candidates.next_if(|f| f.id <= *marker).is_some() {}
    }
    let page: Vec<&Flavor> = candidates.take(limit.unwrap_or(1000)).collect();
    let mut body =
        json!({"flavors": page.iter().map(|f| view(&ctx.site, f, mv, detail)).collect::<Vec<_>>()});
    if let (Some(l), Some(last)) = (limit, page.last()) {
        if page.len() == l {
            let path = if detail { "flavors/detail" } else { "flavors" };
            body["flavors_links"] = next_link(&ctx.site, path, &format!("limit={l}&"), &last.id);
        }
    }
    Ok(Json(body).into_response())
}

/// `is_public`: members see public flavors and the private ones shared with their project;
/// admins may ask for private ones, or all with `is_public=none`.
fn public_filter(ctx: &Ctx, q: &HashMap<String, String>) -> Option<bool> {
    if !ctx.is_admin() {
        return Some(true);
    }
    match q.get("is_public").map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "none" => None,
        Some(s) => Some(schema::truthy(&json!(s))),
        None => Some(true),
    }
}

fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                bad_request(format!(
                    "Invalid input for query parameters {name}. Value: {v}. '{v}' does not match '^[0-9]+$'"
                ))
            })
        })
        .transpose()
}

async fn show(ctx: Ctx, mv: Mv, Path(id): Path<String>) -> Res {
    let g = ctx.site.data.lock();
    let f = g
        .compute
        .flavors
        .visible(&id, ctx.project_id(), ctx.is_admin())
        .ok_or_else(|| flavor_not_found(&id))?;
    Ok(Json(json!({"flavor": view(&ctx.site, f, mv, true)})).into_response())
}

fn create_schema(mv: Mv) -> Value {
    let mut props = json!({
        "name": schema::name(),
        "id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
               "pattern": "^[a-zA-Z0-9. _-]+$"},
        "ram": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "maximum": 2147483647},
        "vcpus": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "maximum": 2147483647},
        "disk": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "maximum": 2147483647},
        "OS-FLV-EXT-DATA:ephemeral": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "maximum": 2147483647},
        "swap": {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "maximum": 2147483647},
        "rxtx_factor": {"type": ["number", "string"], "pattern": "^[0-9]+(\\.[0-9]+)?$", "minimum": 0},
        "os-flavor-access:is_public": schema::boolean(),
    });
    if mv.at_least(2, 55) {
        props["description"] = description_schema();
    }
    json!({
        "type": "object",
        "properties": {"flavor": {
            "type": "object",
            "properties": props,
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": false,
        }},
        "required": ["flavor"],
        "additionalProperties": false,
    })
}

fn description_schema() -> Value {
    json!({"type": ["string", "null"], "minLength": 0, "maxLength": 65535})
}

/// Builds a flavor from a body that passed [`create_schema`].
fn flavor_from(body: &Value) -> Flavor {
    let b = &body["flavor"];
    let int = |k: &str| schema::as_int(&b[k]).unwrap_or(0).max(0) as u64;
    let id = b["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut f = Flavor::new(
        &id,
        b["name"].as_str().unwrap_or_default(),
        int("ram"),
        int("disk"),
        int("vcpus") as u32,
    );
    f.ephemeral = int("OS-FLV-EXT-DATA:ephemeral");
    f.swap = int("swap");
    f.rxtx_factor = match &b["rxtx_factor"] {
        Value::Number(n) => n.as_f64().unwrap_or(1.0),
        Value::String(s) => s.parse().unwrap_or(1.0),
        _ => 1.0,
    };
    f.is_public = b
        .get("os-flavor-access:is_public")
        .is_none_or(schema::truthy);
    f.description = b["description"].as_str().map(str::to_string);
    f
}

async fn create(ctx: Ctx, mv: Mv, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-manage:create")?;
    validate(&create_schema(mv), &body)?;
    let f = flavor_from(&body);
    let mut g = ctx.site.data.lock();
    let flavors = &mut g.compute.flavors.by_id;
    if flavors.values().any(|o| o.name == f.name) {
        return Err(conflict(format!(
            "Flavor with name {} already exists.",
            f.name
        )));
    }
    if flavors.contains_key(&f.id) {
        return Err(conflict(format!("Flavor with ID {} already exists.", f.id)));
    }
    let body = json!({"flavor": view(&ctx.site, &f, mv, true)});
    flavors.insert(f.id.clone(), f);
    Ok(Json(body).into_response())
}

async fn update(ctx: Ctx, mv: Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    if !mv.at_least(2, 55) {
        return Err(super::no_resource());
    }
    require_admin(&ctx, "os_compute_api:os-flavor-manage:update")?;
    let schema = json!({
        "type": "object",
        "properties": {"flavor": {
            "type": "object",
            "properties": {"description": description_schema()},
            "required": ["description"],
            "additionalProperties": false,
        }},
        "required": ["flavor"],
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let mut g = ctx.site.data.lock();
    let f = g.compute.flavors.visible_mut(&id, &ctx)?;
    f.description = body["flavor"]["description"].as_str().map(str::to_string);
    Ok(Json(json!({"flavor": view(&ctx.site, f, mv, true)})).into_response())
}

async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-manage:delete")?;
    let mut g = ctx.site.data.lock();
    g.compute
        .flavors
        .by_id
        .remove(&id)
        .ok_or_else(|| flavor_not_found(&id))?;
    Ok(empty(StatusCode::ACCEPTED, JSON))
}

fn access_json(f: &Flavor) -> Value {
    let list: Vec<Value> = f
        .projects
        .iter()
        .map(|p| json!({"flavor_id": f.id, "tenant_id": p}))
        .collect();
    json!({ "flavor_access": list })
}

async fn access_list(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-access")?;
    let g = ctx.site.data.lock();
    let f = g
        .compute
        .flavors
        .by_id
        .get(&id)
        .ok_or_else(|| flavor_not_found(&id))?;
    if f.is_public {
        return Err(not_found("Access list not available for public flavors."));
    }
    Ok(Json(access_json(f)).into_response())
}

/// `addTenantAccess` / `removeTenantAccess`.
async fn access_action(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let (action, rule) = if body.get("addTenantAccess").is_some() {
        ("addTenantAccess", "add_tenant_access")
    } else if body.get("removeTenantAccess").is_some() {
        ("removeTenantAccess", "remove_tenant_access")
    } else {
        let name = body
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        return Err(bad_request(format!("There is no such action: {name}")));
    };
    require_admin(&ctx, &format!("os_compute_api:os-flavor-access:{rule}"))?;
    let schema = json!({
        "type": "object",
        "properties": {action: {
            "type": "object",
            "properties": {"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
            "required": ["tenant"],
            "additionalProperties": false,
        }},
        "required": [action],
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let tenant = body[action]["tenant"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut g = ctx.site.data.lock();
    let f = g
        .compute
        .flavors
        .by_id
        .get_mut(&id)
        .ok_or_else(|| flavor_not_found(&id))?;
    if action == "addTenantAccess" {
        if f.is_public {
            return Err(conflict("Can not add access to a public flavor."));
        }
        if !f.projects.insert(tenant.clone()) {
            return Err(conflict(format!(
                "Flavor access already exists for flavor {id} and project {tenant} combination."
            )));
        }
    } else if !f.projects.remove(&tenant) {
        return Err(not_found(format!(
            "Flavor access not found for {id} / {tenant} combination."
        )));
    }
    Ok(Json(access_json(f)).into_response())
}

fn specs_schema() -> Value {
    json!({
        "type": "object",
        "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {
            "type": ["string", "number", "boolean"], "minLength": 0, "maxLength": 255}},
        "additionalProperties": false,
    })
}

/// An extra spec value as Nova stores it (a string).
fn spec_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    }
}

async fn specs_list(ctx: Ctx, Path(id): Path<String>) -> Res {
    let g = ctx.site.data.lock();
    let f = g
        .compute
        .flavors
        .visible(&id, ctx.project_id(), ctx.is_admin())
        .ok_or_else(|| flavor_not_found(&id))?;
    Ok(Json(json!({"extra_specs": f.extra_specs})).into_response())
}

async fn specs_create(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-extra-specs:create")?;
    let schema = json!({
        "type": "object",
        "properties": {"extra_specs": specs_schema()},
        "required": ["extra_specs"],
        "additionalProperties": false,
    });
    validate(&schema, &body)?;
    let mut g = ctx.site.data.lock();
    let f = g.compute.flavors.visible_mut(&id, &ctx)?;
    let mut answer = Map::new();
    for (k, v) in body["extra_specs"].as_object().into_iter().flatten() {
        f.extra_specs.insert(k.clone(), spec_string(v));
        answer.insert(k.clone(), json!(spec_string(v)));
    }
    Ok(Json(json!({ "extra_specs": answer })).into_response())
}

async fn spec_show(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> Res {
    let g = ctx.site.data.lock();
    let f = g
        .compute
        .flavors
        .visible(&id, ctx.project_id(), ctx.is_admin())
        .ok_or_else(|| flavor_not_found(&id))?;
    let value = f
        .extra_specs
        .get(&key)
        .ok_or_else(|| spec_not_found(&id, &key))?;
    Ok(Json(json!({ key: value })).into_response())
}

fn spec_not_found(id: &str, key: &str) -> ApiError {
    not_found(format!("Flavor {id} has no extra specs with key {key}."))
}

async fn spec_update(
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    OsJson(body): OsJson,
) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-extra-specs:update")?;
    validate(&specs_schema(), &body)?;
    let obj = body.as_object().cloned().unwrap_or_default();
    if obj.len() > 1 {
        return Err(bad_request("Request body contains too many items"));
    }
    let Some(value) = obj.get(&key) else {
        return Err(bad_request("Request body and URI mismatch"));
    };
    let value = spec_string(value);
    let mut g = ctx.site.data.lock();
    let f = g.compute.flavors.visible_mut(&id, &ctx)?;
    f.extra_specs.insert(key.clone(), value.clone());
    Ok(Json(json!({ key: value })).into_response())
}

async fn spec_delete(ctx: Ctx, Path((id, key)): Path<(String, String)>) -> Res {
    require_admin(&ctx, "os_compute_api:os-flavor-extra-specs:delete")?;
    let mut g = ctx.site.data.lock();
    let f = g.compute.flavors.visible_mut(&id, &ctx)?;
    f.extra_specs
        .remove(&key)
        .ok_or_else(|| spec_not_found(&id, &key))?;
    Ok(empty(StatusCode::ACCEPTED, JSON))
}
