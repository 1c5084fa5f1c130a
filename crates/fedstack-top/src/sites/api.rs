//! `/fed/v1/sites`: registering and operating sites (admin only). Credentials go in and are
//! sealed at rest; no answer ever carries them.

use super::{health, SiteHandle};
use crate::auth::Caller;
use crate::Top;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::SiteAuth;
use fedstack_store::now_ms;
use fedstack_store::sites::SiteRecord;
use fedstack_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The site routes, nested under `/fed/v1`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
        .route("/sites", get(list).post(create))
        .route("/sites/{id}", get(show).patch(update).delete(delete))
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

fn require_admin(c: &Caller) -> Result<(), ApiError> {
    if c.is_admin() {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow fed:sites to be performed.",
        ))
    }
}

/// A site as the API shows it (never its credentials).
pub fn site_json(s: &Arc<SiteHandle>) -> Value {
    let r = &s.record;
    let h = s.health();
    let auth_type = match s.client.credentials().auth {
        SiteAuth::Password { .. } => "password",
        SiteAuth::ApplicationCredential { .. } => "application_credential",
    };
    json!({
        "id": r.id, "name": r.name, "availability_zone": r.az, "auth_url": r.auth_url,
        "region": r.region, "interface": r.interface, "auth_type": auth_type, "labels": r.labels,
        "enabled": r.enabled, "drained": r.drained,
        "state": h.state, "latency_ms": h.latency_ms, "checked_at": h.checked_at, "error": h.error,
        "capacity": h.capacity,
        "created_at": chrono::DateTime::from_timestamp_millis(r.created_at),
        "updated_at": chrono::DateTime::from_timestamp_millis(r.updated_at),
    })
}

fn found(top: &Top, id: &str) -> Result<Arc<SiteHandle>, ApiError> {
    top.sites.find(id).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            format!("Site {id} could not be found."),
        )
    })
}

async fn list(c: Caller) -> Res {
    require_admin(&c)?;
    let sites: Vec<Value> = c.top.sites.all().iter().map(site_json).collect();
    Ok(Json(json!({ "sites": sites })).into_response())
}

async fn show(c: Caller, Path(id): Path<String>) -> Res {
    require_admin(&c)?;
    Ok(Json(json!({"site": site_json(&found(&c.top, &id)?)})).into_response())
}

/// Reads a credentials object: `{"type": "password", ...}` or `{"type": "application_credential", ...}`.
fn credentials(v: &Value) -> Result<SiteAuth, ApiError> {
    serde_json::from_value(v.clone()).map_err(|e| {
        err(StatusCode::BAD_REQUEST, format!("Invalid credentials: {e}. Expected {{\"type\": \"password\", \"username\", \"password\", \"project_name\"}} or {{\"type\": \"application_credential\", \"id\", \"secret\"}}."))
    })
}

fn opt_str(v: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(err(StatusCode::BAD_REQUEST, format!("Invalid input for field/attribute {key}. Value: {other}. It must be a non-empty string."))),
    }
}

fn opt_bool(v: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(err(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid input for field/attribute {key}. Value: {other}. It must be a boolean."
            ),
        )),
    }
}

fn labels(v: &Value) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    match v.get("labels") {
        None | Some(Value::Null) => Ok(None),
        Some(l) => serde_json::from_value(l.clone()).map(Some).map_err(|_| {
            err(
                StatusCode::BAD_REQUEST,
                "Invalid input for field/attribute labels. It must be an object of strings.",
            )
        }),
    }
}

fn interface(v: Option<String>) -> Result<String, ApiError> {
    let i = v.unwrap_or_else(|| "public".into());
    if ["public", "internal", "admin"].contains(&i.as_str()) {
        Ok(i)
    } else {
        Err(err(
            StatusCode::BAD_REQUEST,
            format!("Invalid interface {i}: must be public, internal or admin."),
        ))
    }
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(what) => err(
            StatusCode::CONFLICT,
            format!("A site with the same {what} already exists."),
        ),
        other => err(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    require_admin(&c)?;
    let s = body
        .get("site")
        .filter(|v| v.is_object())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'site' is a required property"))?;
    let name = opt_str(s, "name")?
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'name' is a required property"))?;
    let auth_url = opt_str(s, "auth_url")?
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'auth_url' is a required property"))?;
    if !(auth_url.starts_with("http://") || auth_url.starts_with("https://")) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("Invalid auth_url {auth_url}: must be an http(s) URL."),
        ));
    }
    let creds = credentials(s.get("credentials").ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "'credentials' is a required property",
        )
    })?)?;
    let now = now_ms();
    let record = SiteRecord {
        id: uuid::Uuid::new_v4().to_string(),
        az: opt_str(s, "availability_zone")?.unwrap_or_else(|| name.clone()),
        name,
        auth_url,
        region: opt_str(s, "region")?,
        interface: interface(opt_str(s, "interface")?)?,
        credentials: c
            .top
            .secrets
            .seal(&serde_json::to_vec(&creds).unwrap_or_default()),
        labels: labels(s)?.unwrap_or_default(),
        enabled: opt_bool(s, "enabled")?.unwrap_or(true),
        drained: false,
        created_at: now,
        updated_at: now,
    };
    c.top.store.create_site(&record).await.map_err(store_err)?;
    let handle = c
        .top
        .sites
        .insert(record, &c.top.secrets)
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    health::check(&handle).await;
    tracing::info!(site = %handle.name(), state = ?handle.health().state, "site registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({"site": site_json(&handle)})),
    )
        .into_response())
}

async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    require_admin(&c)?;
    let s = body
        .get("site")
        .filter(|v| v.is_object())
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "'site' is a required property"))?;
    let mut record = found(&c.top, &id)?.record.clone();
    if let Some(n) = opt_str(s, "name")? {
        record.name = n;
    }
    if let Some(az) = opt_str(s, "availability_zone")? {
        record.az = az;
    }
    if let Some(u) = opt_str(s, "auth_url")? {
        record.auth_url = u;
    }
    if s.get("region").is_some() {
        record.region = opt_str(s, "region")?;
    }
    if let Some(i) = opt_str(s, "interface")? {
        record.interface = interface(Some(i))?;
    }
    if let Some(cr) = s.get("credentials") {
        record.credentials = c
            .top
            .secrets
            .seal(&serde_json::to_vec(&credentials(cr)?).unwrap_or_default());
    }
    if let Some(l) = labels(s)? {
        record.labels = l;
    }
    if let Some(e) = opt_bool(s, "enabled")? {
        record.enabled = e;
    }
    if let Some(d) = opt_bool(s, "drained")? {
        record.drained = d;
    }
    c.top.store.update_site(&record).await.map_err(store_err)?;
    let handle = c
        .top
        .sites
        .insert(record, &c.top.secrets)
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({"site": site_json(&handle)})).into_response())
}

#[derive(Deserialize)]
struct DeleteParams {
    #[serde(default)]
    force: Option<String>,
}

async fn delete(c: Caller, Path(id): Path<String>, Query(p): Query<DeleteParams>) -> Res {
    require_admin(&c)?;
    let site = found(&c.top, &id)?;
    let force = p
        .force
        .as_deref()
        .is_some_and(|f| f.is_empty() || f == "true" || f == "1");
    let remaining = c
        .top
        .store
        .count_routes_on_site(site.id())
        .await
        .map_err(store_err)?;
    if remaining > 0 && !force {
        return Err(err(StatusCode::CONFLICT, format!("Site {} still holds {remaining} resources of the top; drain it and move or delete them first, or delete with ?force=true.", site.name())));
    }
    if force {
        c.top
            .store
            .delete_routes_of_site(site.id())
            .await
            .map_err(store_err)?;
        c.top
            .store
            .forget_site_volumes(site.id())
            .await
            .map_err(store_err)?;
    }
    c.top
        .store
        .delete_site(site.id())
        .await
        .map_err(store_err)?;
    c.top.sites.remove(site.id());
    tracing::info!(site = %site.name(), force, "site deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
