//! Keystone v3 on the wire, shared by the simulated site and the top: documents (version,
//! projects, users, roles, domain, tokens, catalog) and parsing of `POST /v3/auth/tokens`.

use crate::{time, ApiError, Service};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use serde_json::{json, Value};

/// The only domain: `default` / `Default`.
pub const DEFAULT_DOMAIN: (&str, &str) = ("default", "Default");

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Identity, status, msg)
}

/// A fresh audit id, as Keystone makes them (16 random bytes, URL-safe base64).
pub fn audit_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// Keystone's implied roles: what each role also grants.
pub fn implied_roles(role: &str) -> &'static [&'static str] {
    match role {
        "admin" => &["manager", "member", "reader"],
        "manager" => &["member", "reader"],
        "member" => &["reader"],
        _ => &[],
    }
}

/// Keystone's 403 for a policy failure.
pub fn forbidden(action: &str) -> ApiError {
    err(
        StatusCode::FORBIDDEN,
        format!("You are not authorized to perform the requested action: identity:{action}."),
    )
}

/// Keystone's 401 (with its `WWW-Authenticate` realm).
pub fn unauthorized(auth_url: &str) -> ApiError {
    ApiError::unauthorized(Service::Identity).with_auth_uri(auth_url)
}

/// The v3 version document.
pub fn version_doc(auth_url: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{auth_url}/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /`: 300 Multiple Choices with the v3 document and a `Location`.
pub fn versions_response(auth_url: &str) -> Response {
    let mut r = (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [version_doc(auth_url)]}})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{auth_url}/")) {
        r.headers_mut().insert("location", v);
    }
    r
}

/// The `links` of a collection.
pub fn list_links(auth_url: &str, path: &str, query: Option<&str>) -> Value {
    let q = query
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    json!({"next": null, "self": format!("{auth_url}{path}{q}"), "previous": null})
}

/// A project as Keystone shows it.
pub fn project(
    auth_url: &str,
    id: &str,
    name: &str,
    description: &str,
    enabled: bool,
    tags: &[String],
) -> Value {
    json!({
        "id": id, "name": name, "domain_id": DEFAULT_DOMAIN.0, "description": description,
        "enabled": enabled, "parent_id": DEFAULT_DOMAIN.0, "is_domain": false, "tags": tags,
        "options": {}, "links": {"self": format!("{auth_url}/projects/{id}")},
    })
}

/// A user's optional attributes.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserExtras<'a> {
    pub description: Option<&'a str>,
    pub email: Option<&'a str>,
    pub default_project_id: Option<&'a str>,
}

/// A user as Keystone shows it.
pub fn user(auth_url: &str, id: &str, name: &str, enabled: bool, extras: UserExtras<'_>) -> Value {
    let mut v = json!({
        "id": id, "name": name, "domain_id": DEFAULT_DOMAIN.0, "enabled": enabled,
        "password_expires_at": null, "options": {},
        "links": {"self": format!("{auth_url}/users/{id}")},
    });
    for (k, val) in [
        ("description", extras.description),
        ("email", extras.email),
        ("default_project_id", extras.default_project_id),
    ] {
        if let Some(x) = val {
            v[k] = json!(x);
        }
    }
    v
}

/// A global role.
pub fn role(auth_url: &str, id: &str, name: &str) -> Value {
    json!({
        "id": id, "name": name, "domain_id": null, "description": null,
        "options": {"immutable": true}, "links": {"self": format!("{auth_url}/roles/{id}")},
    })
}

/// The default domain.
pub fn domain(auth_url: &str) -> Value {
    json!({
        "id": DEFAULT_DOMAIN.0, "name": DEFAULT_DOMAIN.1, "description": "The default domain",
        "enabled": true, "tags": [], "options": {},
        "links": {"self": format!("{auth_url}/domains/default")},
    })
}

/// True when a `{"id": ..}` or `{"name": ..}` domain reference names the default domain.
pub fn is_default_domain(d: Option<&Value>) -> bool {
    match d {
        None => true,
        Some(d) => {
            d.get("id").and_then(Value::as_str) == Some(DEFAULT_DOMAIN.0)
                || d.get("name").and_then(Value::as_str) == Some(DEFAULT_DOMAIN.1)
        }
    }
}

/// What a token body shows.
#[derive(Debug, Clone)]
pub struct TokenView<'a> {
    pub methods: &'a [String],
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub audit_ids: &'a [String],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// (id, name) of the project for a project-scoped token.
    pub project: Option<(&'a str, &'a str)>,
    /// (id, name) of each role.
    pub roles: Vec<(String, String)>,
    pub catalog: Option<Value>,
    /// `{"id": .., "name": .., "restricted": ..}` for application credential tokens.
    pub application_credential: Option<Value>,
}

/// `{"token": {...}}`.
pub fn token(v: &TokenView<'_>) -> Value {
    let dom = json!({"id": DEFAULT_DOMAIN.0, "name": DEFAULT_DOMAIN.1});
    let mut t = json!({
        "methods": v.methods,
        "user": {"domain": dom, "id": v.user_id, "name": v.user_name, "password_expires_at": null},
        "audit_ids": v.audit_ids,
        "expires_at": time::keystone(v.expires_at),
        "issued_at": time::keystone(v.issued_at),
    });
    if let Some((id, name)) = v.project {
        t["project"] = json!({"domain": dom, "id": id, "name": name});
        t["is_domain"] = json!(false);
        t["roles"] = Value::Array(
            v.roles
                .iter()
                .map(|(id, n)| json!({"id": id, "name": n}))
                .collect(),
        );
        if let Some(c) = &v.catalog {
            t["catalog"] = c.clone();
        }
    }
    if let Some(ac) = &v.application_credential {
        t["application_credential"] = ac.clone();
    }
    json!({ "token": t })
}

/// One service of a catalog: type, name, URL.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub service_type: String,
    pub name: String,
    pub url: String,
}

/// A catalog with public, internal and admin endpoints of each service in `region`; IDs are
/// stable for a given `seed`.
pub fn catalog(seed: &str, region: &str, entries: &[CatalogEntry]) -> Value {
    let id = |what: &str| hex::encode(Md5::digest(format!("{seed}/{what}")));
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let ty = &e.service_type;
                let endpoints: Vec<Value> = ["public", "internal", "admin"]
                    .into_iter()
                    .map(|iface| json!({"id": id(&format!("{ty}/{iface}")), "interface": iface, "region_id": region, "url": e.url, "region": region}))
                    .collect();
                json!({"endpoints": endpoints, "id": id(ty), "type": ty, "name": e.name})
            })
            .collect(),
    )
}

/// `/v3/services` entries of a catalog.
pub fn services(auth_url: &str, catalog: &Value) -> Vec<Value> {
    catalog
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let id = s["id"].as_str().unwrap_or_default();
            json!({"id": id, "type": s["type"], "name": s["name"], "enabled": true, "links": {"self": format!("{auth_url}/services/{id}")}})
        })
        .collect()
}

/// `/v3/endpoints` entries of a catalog.
pub fn endpoints(auth_url: &str, catalog: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in catalog.as_array().into_iter().flatten() {
        for e in s["endpoints"].as_array().into_iter().flatten() {
            let id = e["id"].as_str().unwrap_or_default();
            out.push(json!({
                "id": id, "interface": e["interface"], "region_id": e["region_id"], "region": e["region"],
                "url": e["url"], "service_id": s["id"], "enabled": true,
                "links": {"self": format!("{auth_url}/endpoints/{id}")},
            }));
        }
    }
    out
}

/// A user named in an auth request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(String),
    /// A name in the default domain.
    Name(String),
}

/// A project named in a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(String),
    /// A name in the default domain.
    Name(String),
}

/// The `application_credential` method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredAuth {
    pub id: Option<String>,
    pub name: Option<String>,
    pub user: Option<UserRef>,
    pub secret: String,
}

/// A parsed `POST /v3/auth/tokens`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRequest {
    pub methods: Vec<String>,
    pub password: Option<(UserRef, String)>,
    pub token: Option<String>,
    pub application_credential: Option<AppCredAuth>,
    /// None: unscoped.
    pub project: Option<ProjectRef>,
    /// The raw `scope` object, for extensions.
    pub scope: Option<Value>,
}

/// Why an auth request is refused before any lookup: 400 for malformed bodies, 401 for
/// references outside the default domain.
fn user_ref(u: &Value, auth_url: &str) -> Result<UserRef, ApiError> {
    if let Some(id) = u.get("id").and_then(Value::as_str) {
        return Ok(UserRef::Id(id.to_string()));
    }
    let name = u.get("name").and_then(Value::as_str).ok_or_else(|| err(StatusCode::BAD_REQUEST, "Expecting to find id or name in user - the server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."))?;
    if !is_default_domain(u.get("domain")) {
        return Err(unauthorized(auth_url));
    }
    Ok(UserRef::Name(name.to_string()))
}

impl AuthRequest {
    /// Parses the body of `POST /v3/auth/tokens`.
    pub fn parse(body: &Value, auth_url: &str) -> Result<AuthRequest, ApiError> {
        let identity = body
            .pointer("/auth/identity")
            .filter(|v| v.is_object())
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'identity' is a required property"))?;
        let methods: Vec<String> = identity
            .get("methods")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'methods' is a required property"))?;
        let mut req = AuthRequest {
            methods,
            password: None,
            token: None,
            application_credential: None,
            project: None,
            scope: body.pointer("/auth/scope").cloned(),
        };
        if req.methods.iter().any(|m| m == "password") {
            let u = identity
                .pointer("/password/user")
                .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'user' is a required property"))?;
            let pw = u
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            req.password = Some((user_ref(u, auth_url)?, pw));
        }
        if req.methods.iter().any(|m| m == "token") {
            req.token = identity
                .pointer("/token/id")
                .and_then(Value::as_str)
                .map(String::from);
        }
        if req.methods.iter().any(|m| m == "application_credential") {
            let ac = identity.get("application_credential").ok_or_else(|| {
                err(
                    StatusCode::BAD_REQUEST,
                    "'application_credential' is a required property",
                )
            })?;
            req.application_credential = Some(AppCredAuth {
                id: ac.get("id").and_then(Value::as_str).map(String::from),
                name: ac.get("name").and_then(Value::as_str).map(String::from),
                user: ac.get("user").map(|u| user_ref(u, auth_url)).transpose()?,
                secret: ac
                    .get("secret")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        if let Some(p) = req.scope.as_ref().and_then(|s| s.get("project")) {
            req.project = Some(match p.get("id").and_then(Value::as_str) {
                Some(id) => ProjectRef::Id(id.to_string()),
                None => {
                    let name = p
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| unauthorized(auth_url))?;
                    if !is_default_domain(p.get("domain")) {
                        return Err(unauthorized(auth_url));
                    }
                    ProjectRef::Name(name.to_string())
                }
            });
        }
        Ok(req)
    }

    /// True when `?nocatalog` is in the query string.
    pub fn no_catalog(query: Option<&str>) -> bool {
        query.is_some_and(|q| q.split('&').any(|p| p.starts_with("nocatalog")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_password_and_scope() {
        let b = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"name": "Default"}, "password": "pw"}}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
        let r = AuthRequest::parse(&b, "u").unwrap();
        assert_eq!(
            r.password,
            Some((UserRef::Name("demo".into()), "pw".into()))
        );
        assert_eq!(r.project, Some(ProjectRef::Name("demo".into())));
        let other_domain = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"name": "Other"}, "password": "pw"}}}}});
        assert_eq!(
            AuthRequest::parse(&other_domain, "u").unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            AuthRequest::parse(&json!({"auth": {}}), "u")
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn catalog_ids_are_stable() {
        let e = [CatalogEntry {
            service_type: "compute".into(),
            name: "nova".into(),
            url: "http://x/compute/v2.1".into(),
        }];
        assert_eq!(catalog("s", "R", &e), catalog("s", "R", &e));
        assert_ne!(
            catalog("s", "R", &e)[0]["id"],
            catalog("t", "R", &e)[0]["id"]
        );
        assert_eq!(endpoints("http://x/v3", &catalog("s", "R", &e)).len(), 3);
    }
}
