//! The Neutron v2.0 HTTP API, nested under `/networking`.

mod body;
mod extensions;
mod floating_ips;
mod ip_availability;
mod networks;
mod ports;
mod query;
mod quotas;
mod routers;
mod security_groups;
mod subnets;
mod tags;

use super::ops::neutron_error;
use crate::ctx::Ctx;
use crate::site::Site;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use extensions::EXTENSIONS;
use fedstack_api_types::{ApiError, Service};
use query::ListQuery;
use serde_json::{json, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// Raw query pairs, in order (filters and `fields` repeat).
type Pairs = Query<Vec<(String, String)>>;

/// The routes, nested under `/networking`.
pub fn router() -> Router<Arc<Site>> {
    let r = Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(resources))
        .route("/v2.0/", get(resources))
        .route("/v2.0/extensions", get(list_extensions))
        .route("/v2.0/extensions/{alias}", get(show_extension))
        .route("/v2.0/availability_zones", get(availability_zones))
        .route("/v2.0/subnetpools", get(subnetpools))
        .route(
            "/v2.0/network-ip-availabilities",
            get(ip_availability::list),
        )
        .route(
            "/v2.0/network-ip-availabilities/{id}",
            get(ip_availability::show),
        )
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route(
            "/v2.0/security-groups",
            get(security_groups::list).post(security_groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(security_groups::list_rules).post(security_groups::create_rule),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(security_groups::show_rule).delete(security_groups::delete_rule),
        )
        .route("/v2.0/routers", get(routers::list).post(routers::create))
        .route(
            "/v2.0/routers/{id}",
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(routers::remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(floating_ips::list).post(floating_ips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floating_ips::show)
                .put(floating_ips::update)
                .delete(floating_ips::delete),
        )
        .route("/v2.0/quotas", get(quotas::list))
        .route(
            "/v2.0/quotas/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::reset),
        )
        .route("/v2.0/quotas/{project}/details", get(quotas::details))
        .route("/v2.0/quotas/{project}/default", get(quotas::defaults));
    tags::routes(r).fallback(not_found)
}

/// A 400 of Neutron's API layer (`HTTPBadRequest`).
fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(Service::Network, msg).with_kind("HTTPBadRequest")
}

/// `InvalidInput`: "Invalid input for operation: ...".
fn invalid_input(msg: impl std::fmt::Display) -> ApiError {
    neutron_error(
        400,
        "InvalidInput",
        format!("Invalid input for operation: {msg}"),
    )
}

/// `PolicyNotAuthorized` (403) for a rule expression such as `rule:create_network`.
fn policy_denied(rule: &str) -> ApiError {
    neutron_error(
        403,
        "PolicyNotAuthorized",
        format!("{rule} is disallowed by policy"),
    )
}

/// Who is calling, as Neutron's policies see it.
struct Caller {
    project: String,
    admin: bool,
    member: bool,
}

impl Caller {
    fn of(ctx: &Ctx) -> Self {
        Caller {
            project: ctx.project_id().to_string(),
            admin: ctx.is_admin(),
            member: ctx.has_role("member"),
        }
    }

    /// True when the caller owns (or administers) a resource of `project`.
    fn owns(&self, project: &str) -> bool {
        self.admin || self.project == project
    }

    /// Writes need the member role (`rule:<action>` otherwise).
    fn require_member(&self, action: &str) -> Result<(), ApiError> {
        if self.member || self.admin {
            Ok(())
        } else {
            Err(policy_denied(&format!("rule:{action}")))
        }
    }

    /// An attribute only admins may set: `(rule:<action> and rule:<action>:<attr>)`.
    fn require_admin_attr(&self, action: &str, attr: &str) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(policy_denied(&format!(
                "(rule:{action} and rule:{action}:{attr})"
            )))
        }
    }

    /// The project a new resource belongs to: the caller's, or the `project_id`/`tenant_id`
    /// an admin gives.
    fn target_project(&self, attrs: &body::Attrs) -> Result<String, ApiError> {
        let given = match (attrs.string("project_id")?, attrs.string("tenant_id")?) {
            (Some(p), Some(t)) if p != t => {
                return Err(bad_request("'project_id' and 'tenant_id' do not match"))
            }
            (Some(p), _) => Some(p),
            (None, t) => t,
        };
        match given {
            Some(p) if p != self.project && !self.admin => Err(bad_request(
                "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request is not allowed for current user.",
            )),
            Some(p) => Ok(p),
            None => Ok(self.project.clone()),
        }
    }
}

/// `http://127.0.0.1:PORT/networking/v2.0/<collection>`
fn collection_url(site: &Site, collection: &str) -> String {
    format!("{}/v2.0/{collection}", site.service_root(Service::Network))
}

/// Replaces `field` when an update gave a new value.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// `201 Created` with a JSON body.
fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `200 OK` with a JSON body.
fn ok(body: Value) -> Response {
    Json(body).into_response()
}

/// `204 No Content`.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A shown resource reduced to `?fields=`, if any.
fn shown(key: &str, item: Value, pairs: &[(String, String)]) -> Response {
    let fields: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    let item = match item {
        Value::Object(m) if !fields.is_empty() => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    };
    ok(json!({ key: item }))
}

/// `GET /networking`: the one API version.
async fn versions(State(site): State<Arc<Site>>) -> Json<Value> {
    let root = site.service_root(Service::Network);
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{root}/v2.0/")}]}]}))
}

/// `GET /networking/v2.0/`: the core resources.
async fn resources(ctx: Ctx) -> Json<Value> {
    let list: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("subnetpool", "subnetpools"),
        ("port", "ports"),
    ]
    .iter()
    .map(|(name, coll)| {
        json!({"name": name, "collection": coll,
            "links": [{"rel": "self", "href": collection_url(&ctx.site, coll)}]})
    })
    .collect();
    Json(json!({ "resources": list }))
}

fn extension_json(e: &extensions::Ext) -> Value {
    json!({"name": e.name, "alias": e.alias, "description": e.description,
        "updated": e.updated, "links": []})
}

async fn list_extensions(_ctx: Ctx) -> Json<Value> {
    let list: Vec<Value> = EXTENSIONS.iter().map(extension_json).collect();
    Json(json!({ "extensions": list }))
}

async fn show_extension(_ctx: Ctx, Path(alias): Path<String>) -> Res {
    EXTENSIONS
        .iter()
        .find(|e| e.alias == alias)
        .map(|e| ok(json!({"extension": extension_json(e)})))
        .ok_or_else(|| {
            ApiError::not_found(
                Service::Network,
                format!("Extension with alias {alias} does not exist"),
            )
        })
}

/// `GET /v2.0/availability_zones`: the `nova` zone for networks and routers.
async fn availability_zones(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let q = ListQuery::parse(pairs, &["name", "resource", "state"])?;
    let zones: Vec<(String, Value)> = ["network", "router"]
        .iter()
        .map(|r| {
            (
                format!("nova-{r}"),
                json!({"name": "nova", "resource": r, "state": "available"}),
            )
        })
        .collect();
    let ids: Vec<String> = zones.iter().map(|(id, _)| id.clone()).collect();
    let url = collection_url(&ctx.site, "availability_zones");
    Ok(ok(q.answer("availability_zones", &url, ids.iter(), |id| {
        zones.iter().find(|(z, _)| z == id).map(|(_, v)| v.clone())
    })))
}

/// `GET /v2.0/subnetpools`: none are defined.
async fn subnetpools(_ctx: Ctx) -> Json<Value> {
    Json(json!({"subnetpools": []}))
}

/// Unknown paths: webob's plain 404.
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/plain; charset=UTF-8")],
        "404 Not Found\n\nThe resource could not be found.\n\n   ",
    )
        .into_response()
}
