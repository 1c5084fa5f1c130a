//! Keystone v3 HTTP API.

use super::catalog::{catalog, endpoints, services};
use super::{new_id, IdentityData, Project, ProjectRef, TokenInfo, User, TOKEN_LIFETIME};
use crate::ctx::{Ctx, OsJson};
use crate::site::Site;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::Utc;
use fedstack_api_types::keystone as ks;
use fedstack_api_types::{ApiError, Service};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The Keystone routes, to be nested under `/identity`.
pub fn router() -> Router<Arc<Site>> {
    Router::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .route(
            "/v3/auth/tokens",
            get(validate_token)
                .head(check_token)
                .post(issue_token)
                .delete(revoke_token),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/domains", get(list_domains))
        .route("/v3/domains/{id}", get(show_domain))
        .route("/v3/projects", get(list_projects).post(create_project))
        .route(
            "/v3/projects/{id}",
            get(show_project)
                .patch(update_project)
                .delete(delete_project),
        )
        .route(
            "/v3/projects/{pid}/users/{uid}/roles",
            get(list_project_user_roles),
        )
        .route(
            "/v3/projects/{pid}/users/{uid}/roles/{rid}",
            put(assign_role)
                .head(check_role)
                .get(check_role)
                .delete(unassign_role),
        )
        .route("/v3/users", get(list_users).post(create_user))
        .route(
            "/v3/users/{id}",
            get(show_user).patch(update_user).delete(delete_user),
        )
        .route("/v3/users/{id}/projects", get(user_projects))
        .route("/v3/roles", get(list_roles).post(create_role))
        .route("/v3/roles/{id}", get(show_role).delete(delete_role))
        .route("/v3/role_assignments", get(list_role_assignments))
        .route("/v3/services", get(list_services))
        .route("/v3/endpoints", get(list_endpoints))
        .route("/v3/regions", get(list_regions))
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Identity, status, msg)
}

fn require_admin(ctx: &Ctx, action: &str) -> Result<(), ApiError> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(ks::forbidden(action))
    }
}

fn unauthorized(site: &Site) -> ApiError {
    ks::unauthorized(&site.auth_url())
}

async fn versions(State(site): State<Arc<Site>>) -> Response {
    ks::versions_response(&site.auth_url())
}

async fn version(State(site): State<Arc<Site>>) -> Json<Value> {
    Json(json!({"version": ks::version_doc(&site.auth_url())}))
}

fn project_json(site: &Site, p: &Project) -> Value {
    ks::project(
        &site.auth_url(),
        &p.id,
        &p.name,
        &p.description,
        p.enabled,
        &p.tags,
    )
}

fn user_json(site: &Site, u: &User) -> Value {
    let extras = ks::UserExtras {
        description: u.description.as_deref(),
        email: u.email.as_deref(),
        default_project_id: u.default_project_id.as_deref(),
    };
    ks::user(&site.auth_url(), &u.id, &u.name, u.enabled, extras)
}

fn token_json(site: &Site, t: &TokenInfo, with_catalog: bool) -> Value {
    ks::token(&ks::TokenView {
        methods: &t.methods,
        user_id: &t.user_id,
        user_name: &t.user_name,
        audit_ids: &t.audit_ids,
        issued_at: t.issued_at,
        expires_at: t.expires_at,
        project: t.project.as_ref().map(|p| (p.id.as_str(), p.name.as_str())),
        roles: t.roles.clone(),
        catalog: with_catalog.then(|| catalog(site)),
        application_credential: None,
    })
}

/// The user a password method names, if the password is right.
fn password_user<'a>(d: &'a IdentityData, user: &ks::UserRef, password: &str) -> Option<&'a User> {
    let u = match user {
        ks::UserRef::Id(id) => d.users.get(id)?,
        ks::UserRef::Name(n) => d.user_by_name(n)?,
    };
    (u.enabled && u.password == password).then_some(u)
}

async fn issue_token(
    State(site): State<Arc<Site>>,
    RawQuery(q): RawQuery,
    OsJson(body): OsJson,
) -> Res {
    let auth = ks::AuthRequest::parse(&body, &site.auth_url())?;
    let now = Utc::now();
    let mut d = site.data.lock();
    d.identity.purge_expired();
    // Who: a password, or an earlier token (rescoping keeps its methods, audit chain, expiry).
    let (user_id, methods, audit_ids, expires_at) = if let Some((user, pw)) = &auth.password {
        let u = password_user(&d.identity, user, pw).ok_or_else(|| unauthorized(&site))?;
        (
            u.id.clone(),
            vec!["password".to_string()],
            vec![ks::audit_id()],
            now + TOKEN_LIFETIME,
        )
    } else if let Some(tok) = &auth.token {
        let t = d
            .identity
            .validate(tok)
            .ok_or_else(|| unauthorized(&site))?;
        let mut m = t.methods.clone();
        if !m.iter().any(|x| x == "token") {
            m.push("token".into());
        }
        let mut a = vec![ks::audit_id()];
        a.extend(t.audit_ids.first().cloned());
        (t.user_id, m, a, t.expires_at)
    } else {
        return Err(unauthorized(&site));
    };
    let user = d
        .identity
        .users
        .get(&user_id)
        .cloned()
        .ok_or_else(|| unauthorized(&site))?;
    let project = match &auth.project {
        Some(p) => {
            let proj = match p {
                ks::ProjectRef::Id(id) => d.identity.projects.get(id),
                ks::ProjectRef::Name(n) => d.identity.project_by_name(n),
            };
            let proj = proj
                .filter(|p| p.enabled)
                .ok_or_else(|| unauthorized(&site))?;
            Some(ProjectRef {
                id: proj.id.clone(),
                name: proj.name.clone(),
            })
        }
        None if auth.scope.is_some() => return Err(unauthorized(&site)),
        None => None,
    };
    let roles = match &project {
        Some(p) => {
            let roles = d.identity.effective_roles(&user.id, &p.id);
            if roles.is_empty() {
                return Err(unauthorized(&site));
            }
            roles
        }
        None => vec![],
    };
    let info = TokenInfo {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        project,
        roles,
        methods,
        audit_ids,
        issued_at: now,
        expires_at,
    };
    let token = d.identity.issue(info.clone());
    drop(d);
    let body = token_json(&site, &info, !ks::AuthRequest::no_catalog(q.as_deref()));
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&token) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

fn subject(site: &Site, headers: &HeaderMap) -> Result<(String, TokenInfo), ApiError> {
    let tok = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| err(StatusCode::NOT_FOUND, "Failed to validate token"))?;
    let info = site.data.lock().identity.validate(tok);
    match info {
        Some(i) => Ok((tok.to_string(), i)),
        None => Err(err(StatusCode::NOT_FOUND, "Failed to validate token")),
    }
}

async fn validate_token(ctx: Ctx, RawQuery(q): RawQuery, headers: HeaderMap) -> Res {
    let (tok, info) = subject(&ctx.site, &headers)?;
    if info.user_id != ctx.token.user_id && !ctx.is_admin() && !ctx.has_role("service") {
        return Err(ks::forbidden("validate_token"));
    }
    let mut r = Json(token_json(
        &ctx.site,
        &info,
        !ks::AuthRequest::no_catalog(q.as_deref()),
    ))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&tok) {
        r.headers_mut().insert("x-subject-token", v);
    }
    Ok(r)
}

async fn check_token(ctx: Ctx, headers: HeaderMap) -> Res {
    subject(&ctx.site, &headers)?;
    Ok(StatusCode::OK.into_response())
}

async fn revoke_token(ctx: Ctx, headers: HeaderMap) -> Res {
    let (tok, info) = subject(&ctx.site, &headers)?;
    if info.user_id != ctx.token.user_id && !ctx.is_admin() {
        return Err(ks::forbidden("revoke_token"));
    }
    ctx.site.data.lock().identity.revoke(&tok);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn auth_catalog(ctx: Ctx) -> Res {
    if ctx.token.project.is_none() {
        return Err(ks::forbidden("get_auth_catalog"));
    }
    Ok(Json(json!({"catalog": catalog(&ctx.site), "links": {"self": format!("{}/auth/catalog", ctx.site.auth_url())}})).into_response())
}

fn projects_of_user(d: &IdentityData, user_id: &str) -> Vec<Project> {
    let mut ps: Vec<Project> = d
        .assignments
        .iter()
        .filter(|(u, _, _)| u == user_id)
        .filter_map(|(_, p, _)| d.projects.get(p).cloned())
        .collect();
    ps.sort_by(|a, b| a.id.cmp(&b.id));
    ps.dedup_by(|a, b| a.id == b.id);
    ps
}

async fn auth_projects(ctx: Ctx) -> Res {
    let ps = projects_of_user(&ctx.site.data.lock().identity, ctx.user_id());
    let items: Vec<Value> = ps
        .iter()
        .filter(|p| p.enabled)
        .map(|p| project_json(&ctx.site, p))
        .collect();
    Ok(
        Json(json!({"projects": items, "links": ks::list_links(&ctx.site.auth_url(), "/auth/projects", None)}))
            .into_response(),
    )
}

async fn auth_domains(ctx: Ctx) -> Res {
    Ok(Json(json!({"domains": [ks::domain(&ctx.site.auth_url())], "links": ks::list_links(&ctx.site.auth_url(), "/auth/domains", None)})).into_response())
}

async fn list_domains(ctx: Ctx, RawQuery(q): RawQuery) -> Res {
    require_admin(&ctx, "list_domains")?;
    Ok(Json(json!({"domains": [ks::domain(&ctx.site.auth_url())], "links": ks::list_links(&ctx.site.auth_url(), "/domains", q.as_deref())})).into_response())
}

async fn show_domain(ctx: Ctx, Path(id): Path<String>) -> Res {
    if id != ks::DEFAULT_DOMAIN.0 {
        return Err(err(
            StatusCode::NOT_FOUND,
            format!("Could not find domain: {id}."),
        ));
    }
    Ok(Json(json!({"domain": ks::domain(&ctx.site.auth_url())})).into_response())
}

fn filter_eq(q: &HashMap<String, String>, key: &str, value: &str) -> bool {
    q.get(key).is_none_or(|v| v == value)
}

async fn list_projects(
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&ctx, "list_projects")?;
    let d = ctx.site.data.lock();
    let mut ps: Vec<&Project> = d
        .identity
        .projects
        .values()
        .filter(|p| filter_eq(&q, "name", &p.name) && filter_eq(&q, "domain_id", "default"))
        .filter(|p| filter_eq(&q, "enabled", if p.enabled { "true" } else { "false" }))
        .collect();
    ps.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<Value> = ps.into_iter().map(|p| project_json(&ctx.site, p)).collect();
    Ok(Json(
        json!({"projects": items, "links": ks::list_links(&ctx.site.auth_url(), "/projects", raw.as_deref())}),
    )
    .into_response())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(err(
            StatusCode::BAD_REQUEST,
            format!("Invalid input for field '{key}': {other} is not of type 'string'"),
        )),
    }
}

fn bool_field(v: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(err(
            StatusCode::BAD_REQUEST,
            format!("Invalid input for field '{key}': {other} is not of type 'boolean'"),
        )),
    }
}

fn entity<'a>(body: &'a Value, key: &str) -> Result<&'a Value, ApiError> {
    body.get(key).filter(|v| v.is_object()).ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            format!("'{key}' is a required property"),
        )
    })
}

async fn create_project(ctx: Ctx, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "create_project")?;
    let p = entity(&body, "project")?;
    let name = str_field(p, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'name' is a required property"))?;
    let description = str_field(p, "description")?.unwrap_or("").to_string();
    let enabled = bool_field(p, "enabled")?.unwrap_or(true);
    let mut d = ctx.site.data.lock();
    if let Some(existing) = d.identity.project_by_name(name) {
        return Err(err(StatusCode::CONFLICT, format!(
            "Conflict occurred attempting to store project - it is not permitted to have two projects with either the same name or same id in the same domain: name is {name}, project id {}.",
            existing.id
        )));
    }
    let tags = p
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let proj = Project {
        id: new_id(),
        name: name.into(),
        description,
        enabled,
        tags,
    };
    d.identity.projects.insert(proj.id.clone(), proj.clone());
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_json(&ctx.site, &proj)})),
    )
        .into_response())
}

fn project_not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Could not find project: {id}."),
    )
}

async fn show_project(ctx: Ctx, Path(id): Path<String>) -> Res {
    if !ctx.is_admin() && ctx.project_id() != id {
        return Err(ks::forbidden("get_project"));
    }
    let d = ctx.site.data.lock();
    let p = d
        .identity
        .projects
        .get(&id)
        .ok_or_else(|| project_not_found(&id))?;
    Ok(Json(json!({"project": project_json(&ctx.site, p)})).into_response())
}

async fn update_project(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "update_project")?;
    let p = entity(&body, "project")?;
    let name = str_field(p, "name")?.map(String::from);
    let description = str_field(p, "description")?.map(String::from);
    let enabled = bool_field(p, "enabled")?;
    let mut d = ctx.site.data.lock();
    if let Some(n) = &name {
        if d.identity
            .projects
            .values()
            .any(|x| &x.name == n && x.id != id)
        {
            return Err(err(StatusCode::CONFLICT, format!("Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {n}.")));
        }
    }
    let proj = d
        .identity
        .projects
        .get_mut(&id)
        .ok_or_else(|| project_not_found(&id))?;
    if let Some(n) = name {
        proj.name = n;
    }
    if let Some(x) = description {
        proj.description = x;
    }
    if let Some(e) = enabled {
        proj.enabled = e;
    }
    let mut v = project_json(&ctx.site, proj);
    v["extra"] = json!({});
    Ok(Json(json!({"project": v})).into_response())
}

async fn delete_project(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "delete_project")?;
    let mut d = ctx.site.data.lock();
    d.identity
        .projects
        .remove(&id)
        .ok_or_else(|| project_not_found(&id))?;
    d.identity.assignments.retain(|(_, p, _)| p != &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn user_not_found(id: &str) -> ApiError {
    err(StatusCode::NOT_FOUND, format!("Could not find user: {id}."))
}

async fn list_users(
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&ctx, "list_users")?;
    let d = ctx.site.data.lock();
    let mut us: Vec<&User> = d
        .identity
        .users
        .values()
        .filter(|u| filter_eq(&q, "name", &u.name))
        .collect();
    us.sort_by(|a, b| a.id.cmp(&b.id));
    let items: Vec<Value> = us.into_iter().map(|u| user_json(&ctx.site, u)).collect();
    Ok(
        Json(json!({"users": items, "links": ks::list_links(&ctx.site.auth_url(), "/users", raw.as_deref())}))
            .into_response(),
    )
}

async fn create_user(ctx: Ctx, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "create_user")?;
    let u = entity(&body, "user")?;
    let name = str_field(u, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'name' is a required property"))?;
    let user = User {
        id: new_id(),
        name: name.into(),
        password: str_field(u, "password")?.unwrap_or("").into(),
        description: str_field(u, "description")?.map(String::from),
        email: str_field(u, "email")?.map(String::from),
        enabled: bool_field(u, "enabled")?.unwrap_or(true),
        default_project_id: str_field(u, "default_project_id")?.map(String::from),
    };
    let mut d = ctx.site.data.lock();
    if d.identity.user_by_name(name).is_some() {
        return Err(err(StatusCode::CONFLICT, format!("Conflict occurred attempting to store user - Duplicate entry found with name {name} at domain ID default.")));
    }
    d.identity.users.insert(user.id.clone(), user.clone());
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(&ctx.site, &user)})),
    )
        .into_response())
}

async fn show_user(ctx: Ctx, Path(id): Path<String>) -> Res {
    if !ctx.is_admin() && ctx.user_id() != id {
        return Err(ks::forbidden("get_user"));
    }
    let d = ctx.site.data.lock();
    let u = d
        .identity
        .users
        .get(&id)
        .ok_or_else(|| user_not_found(&id))?;
    Ok(Json(json!({"user": user_json(&ctx.site, u)})).into_response())
}

async fn update_user(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "update_user")?;
    let u = entity(&body, "user")?;
    let name = str_field(u, "name")?.map(String::from);
    let password = str_field(u, "password")?.map(String::from);
    let description = str_field(u, "description")?.map(String::from);
    let email = str_field(u, "email")?.map(String::from);
    let enabled = bool_field(u, "enabled")?;
    let mut d = ctx.site.data.lock();
    let user = d
        .identity
        .users
        .get_mut(&id)
        .ok_or_else(|| user_not_found(&id))?;
    if let Some(n) = name {
        user.name = n;
    }
    if let Some(p) = password {
        user.password = p;
    }
    if description.is_some() {
        user.description = description;
    }
    if email.is_some() {
        user.email = email;
    }
    if let Some(e) = enabled {
        user.enabled = e;
    }
    Ok(Json(json!({"user": user_json(&ctx.site, user)})).into_response())
}

async fn delete_user(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "delete_user")?;
    let mut d = ctx.site.data.lock();
    d.identity
        .users
        .remove(&id)
        .ok_or_else(|| user_not_found(&id))?;
    d.identity.assignments.retain(|(u, _, _)| u != &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn user_projects(ctx: Ctx, Path(id): Path<String>) -> Res {
    if !ctx.is_admin() && ctx.user_id() != id {
        return Err(ks::forbidden("list_user_projects"));
    }
    let d = ctx.site.data.lock();
    if !d.identity.users.contains_key(&id) {
        return Err(user_not_found(&id));
    }
    let items: Vec<Value> = projects_of_user(&d.identity, &id)
        .iter()
        .map(|p| project_json(&ctx.site, p))
        .collect();
    Ok(Json(json!({"projects": items, "links": ks::list_links(&ctx.site.auth_url(), &format!("/users/{id}/projects"), None)})).into_response())
}

async fn list_roles(
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    require_admin(&ctx, "list_roles")?;
    let d = ctx.site.data.lock();
    let mut roles: Vec<Value> = d
        .identity
        .roles
        .iter()
        .filter(|r| filter_eq(&q, "name", &r.name))
        .map(|r| ks::role(&ctx.site.auth_url(), &r.id, &r.name))
        .collect();
    roles.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(
        Json(json!({"roles": roles, "links": ks::list_links(&ctx.site.auth_url(), "/roles", raw.as_deref())}))
            .into_response(),
    )
}

async fn create_role(ctx: Ctx, OsJson(body): OsJson) -> Res {
    require_admin(&ctx, "create_role")?;
    let r = entity(&body, "role")?;
    let name = str_field(r, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'name' is a required property"))?;
    let mut d = ctx.site.data.lock();
    if d.identity.role_by_name(name).is_some() {
        return Err(err(StatusCode::CONFLICT, format!("Conflict occurred attempting to store role - Duplicate entry found with name {name}.")));
    }
    let role = super::Role {
        id: new_id(),
        name: name.into(),
    };
    d.identity.roles.push(role.clone());
    let mut v = ks::role(&ctx.site.auth_url(), &role.id, &role.name);
    v["options"] = json!({});
    Ok((StatusCode::CREATED, Json(json!({"role": v}))).into_response())
}

fn role_not_found(id: &str) -> ApiError {
    err(StatusCode::NOT_FOUND, format!("Could not find role: {id}."))
}

async fn show_role(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "get_role")?;
    let d = ctx.site.data.lock();
    let r = d.identity.role(&id).ok_or_else(|| role_not_found(&id))?;
    Ok(Json(json!({"role": ks::role(&ctx.site.auth_url(), &r.id, &r.name)})).into_response())
}

async fn delete_role(ctx: Ctx, Path(id): Path<String>) -> Res {
    require_admin(&ctx, "delete_role")?;
    let mut d = ctx.site.data.lock();
    if d.identity.role(&id).is_none() {
        return Err(role_not_found(&id));
    }
    d.identity.roles.retain(|r| r.id != id);
    d.identity.assignments.retain(|(_, _, r)| r != &id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks that project, user and role exist, in Keystone's order.
fn check_assignment_refs(
    d: &IdentityData,
    pid: &str,
    uid: &str,
    rid: &str,
) -> Result<(), ApiError> {
    if d.role(rid).is_none() {
        return Err(role_not_found(rid));
    }
    if !d.users.contains_key(uid) {
        return Err(user_not_found(uid));
    }
    if !d.projects.contains_key(pid) {
        return Err(project_not_found(pid));
    }
    Ok(())
}

async fn assign_role(ctx: Ctx, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&ctx, "create_grant")?;
    let mut d = ctx.site.data.lock();
    check_assignment_refs(&d.identity, &pid, &uid, &rid)?;
    d.identity.assignments.insert((uid, pid, rid));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn check_role(ctx: Ctx, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&ctx, "check_grant")?;
    let d = ctx.site.data.lock();
    check_assignment_refs(&d.identity, &pid, &uid, &rid)?;
    if !d
        .identity
        .assignments
        .contains(&(uid.clone(), pid.clone(), rid.clone()))
    {
        return Err(err(StatusCode::NOT_FOUND, format!("Could not find role assignment with role: {rid}, user or group: {uid}, project, domain, or system: {pid}.")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unassign_role(ctx: Ctx, Path((pid, uid, rid)): Path<(String, String, String)>) -> Res {
    require_admin(&ctx, "revoke_grant")?;
    let mut d = ctx.site.data.lock();
    check_assignment_refs(&d.identity, &pid, &uid, &rid)?;
    if !d
        .identity
        .assignments
        .remove(&(uid.clone(), pid.clone(), rid.clone()))
    {
        return Err(err(StatusCode::NOT_FOUND, format!("Could not find role assignment with role: {rid}, user or group: {uid}, project, domain, or system: {pid}.")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_project_user_roles(ctx: Ctx, Path((pid, uid)): Path<(String, String)>) -> Res {
    require_admin(&ctx, "list_grants")?;
    let d = ctx.site.data.lock();
    let roles: Vec<Value> = d
        .identity
        .assignments
        .iter()
        .filter(|(u, p, _)| *u == uid && *p == pid)
        .filter_map(|(_, _, r)| d.identity.role(r))
        .map(|r| ks::role(&ctx.site.auth_url(), &r.id, &r.name))
        .collect();
    Ok(Json(json!({"roles": roles, "links": ks::list_links(&ctx.site.auth_url(), &format!("/projects/{pid}/users/{uid}/roles"), None)})).into_response())
}

async fn list_role_assignments(
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Res {
    let own = q.get("user.id").is_some_and(|u| u == ctx.user_id());
    if !ctx.is_admin() && !own {
        return Err(ks::forbidden("list_role_assignments"));
    }
    let names = q.get("include_names").is_some_and(|v| {
        matches!(
            v.to_lowercase().as_str(),
            "" | "1" | "t" | "true" | "on" | "y" | "yes"
        )
    });
    let d = ctx.site.data.lock();
    let base = ctx.site.auth_url();
    let items: Vec<Value> = d
        .identity
        .assignments
        .iter()
        .filter(|(u, p, r)| {
            filter_eq(&q, "user.id", u)
                && filter_eq(&q, "scope.project.id", p)
                && filter_eq(&q, "role.id", r)
        })
        .map(|(u, p, r)| {
            let mut project = json!({"id": p});
            let mut user = json!({"id": u});
            let mut role = json!({"id": r});
            if names {
                let dom = json!({"id": ks::DEFAULT_DOMAIN.0, "name": ks::DEFAULT_DOMAIN.1});
                project["name"] = json!(d.identity.projects.get(p).map(|x| x.name.clone()));
                project["domain"] = dom.clone();
                user["name"] = json!(d.identity.users.get(u).map(|x| x.name.clone()));
                user["domain"] = dom;
                role["name"] = json!(d.identity.role(r).map(|x| x.name.clone()));
            }
            json!({
                "links": {"assignment": format!("{base}/projects/{p}/users/{u}/roles/{r}")},
                "scope": {"project": project}, "user": user, "role": role,
            })
        })
        .collect();
    Ok(Json(json!({"role_assignments": items, "links": ks::list_links(&ctx.site.auth_url(), "/role_assignments", raw.as_deref())})).into_response())
}

async fn list_services(ctx: Ctx) -> Res {
    require_admin(&ctx, "list_services")?;
    Ok(Json(
        json!({"services": services(&ctx.site), "links": ks::list_links(&ctx.site.auth_url(), "/services", None)}),
    )
    .into_response())
}

async fn list_endpoints(ctx: Ctx) -> Res {
    require_admin(&ctx, "list_endpoints")?;
    Ok(Json(json!({"endpoints": endpoints(&ctx.site), "links": ks::list_links(&ctx.site.auth_url(), "/endpoints", None)})).into_response())
}

async fn list_regions(ctx: Ctx) -> Res {
    let region = json!({
        "id": ctx.site.region, "description": "", "parent_region_id": null,
        "links": {"self": format!("{}/regions/{}", ctx.site.auth_url(), ctx.site.region)},
    });
    Ok(
        Json(json!({"regions": [region], "links": ks::list_links(&ctx.site.auth_url(), "/regions", None)}))
            .into_response(),
    )
}
