//! `/types`: volume types live at the top (Cinder's `__DEFAULT__` among them) and are made
//! on a site, under the same name, when a volume there needs one.

use super::{bad, err, store_err, Req, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::Top;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::volumes::VolumeType;
use fedstack_store::StoreError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Cinder's default type name.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

/// The extra specs Cinder shows to non-admins.
const USER_VISIBLE_EXTRA_SPECS: [&str; 3] = [
    "multiattach",
    "RESKEY:availability_zones",
    "replication_enabled",
];

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/types", get(list).post(create))
        .route("/types/default", get(show_default))
        .route("/types/{type_id}", get(show).delete(delete))
        .route("/types/{type_id}/extra_specs", get(specs).post(set_specs))
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Volume type {id} could not be found."),
    )
}

/// Cinder's 403 for a policy failure.
pub(crate) fn policy(rule: &str) -> ApiError {
    err(
        StatusCode::FORBIDDEN,
        format!("Policy doesn't allow {rule} to be performed."),
    )
}

/// A type as Cinder shows it; non-admins see only the user-visible extra specs.
fn view(t: &VolumeType, admin: bool) -> Value {
    let specs: Map<String, Value> = t
        .extra_specs
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| admin || USER_VISIBLE_EXTRA_SPECS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut v = json!({
        "id": t.id, "name": t.name, "is_public": t.is_public, "description": t.description,
        "extra_specs": specs, "os-volume-type-access:is_public": t.is_public,
    });
    if admin {
        v["qos_specs_id"] = Value::Null;
    }
    v
}

/// A type the caller may use, by ID or name: public ones, or any for an admin (Cinder's 404
/// otherwise).
pub async fn find(c: &Caller, id_or_name: &str) -> Result<VolumeType, ApiError> {
    c.top
        .store
        .volume_type(id_or_name)
        .await
        .map_err(store_err)?
        .filter(|t| t.is_public || c.is_admin())
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!("Volume type with name {id_or_name} could not be found."),
            )
        })
}

async fn visible(r: &Req) -> Result<VolumeType, ApiError> {
    let id = r.id("type_id");
    match r.c.top.store.volume_type(&id).await.map_err(store_err)? {
        Some(t) if t.is_public || r.c.is_admin() => Ok(t),
        _ => Err(not_found(&id)),
    }
}

async fn list(r: Req) -> Res {
    let admin = r.c.is_admin();
    let types: Vec<Value> =
        r.c.top
            .store
            .volume_types()
            .await
            .map_err(store_err)?
            .iter()
            .filter(|t| admin || t.is_public)
            .map(|t| view(t, admin))
            .collect();
    Ok(Json(json!({ "volume_types": types })).into_response())
}

async fn show(r: Req) -> Res {
    let t = visible(&r).await?;
    Ok(Json(json!({"volume_type": view(&t, r.c.is_admin())})).into_response())
}

async fn show_default(r: Req) -> Res {
    let t = find(&r.c, DEFAULT_TYPE).await?;
    Ok(Json(json!({"volume_type": view(&t, r.c.is_admin())})).into_response())
}

/// String-valued extra specs (scalars are stringified as Cinder does).
fn extra_specs(v: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), json!(s))),
                Value::Bool(b) => Ok((k.clone(), json!(if *b { "True" } else { "False" }))),
                Value::Number(n) => Ok((k.clone(), json!(n.to_string()))),
                other => Err(bad(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string'"
                ))),
            })
            .collect(),
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute extra_specs. Value: {other}. {other} is not of type 'object'"
        ))),
    }
}

/// `POST /types` (admin).
async fn create(r: Req, OsJson(body): OsJson) -> Res {
    if !r.c.is_admin() {
        return Err(policy("volume_extension:type_create"));
    }
    let Some(Value::Object(t)) = body.get("volume_type") else {
        return Err(bad(
            "Missing required element 'volume_type' in request body.",
        ));
    };
    let name = match t.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 255 => {
            s.trim().to_string()
        }
        Some(Value::String(_)) => return Err(bad("Volume type name can not be empty.")),
        _ => {
            return Err(bad(
                "Invalid input for field/attribute volume_type. 'name' is a required property",
            ))
        }
    };
    let description = match t.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(bad(format!(
                "Invalid input for field/attribute description. Value: {other}. {other} is not of type 'string'"
            )))
        }
    };
    let is_public = match t.get("os-volume-type-access:is_public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if matches!(s.to_lowercase().as_str(), "true" | "false") => {
            s.eq_ignore_ascii_case("true")
        }
        Some(other) => {
            return Err(bad(format!(
                "Invalid value '{other}' for is_public. Accepted values: True or False."
            )))
        }
    };
    let row = VolumeType {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
        description,
        is_public,
        extra_specs: Value::Object(extra_specs(t.get("extra_specs"))?),
    };
    match r.c.top.store.create_volume_type(&row).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Volume Type {name} already exists."),
            ))
        }
        Err(e) => return Err(store_err(e)),
    }
    Ok(Json(json!({"volume_type": view(&row, true)})).into_response())
}

/// `DELETE /types/{id}` (admin); the default type stays.
async fn delete(r: Req) -> Res {
    if !r.c.is_admin() {
        return Err(policy("volume_extension:type_delete"));
    }
    let t = visible(&r).await?;
    if t.name == DEFAULT_TYPE {
        return Err(bad("Default volume type can not be deleted."));
    }
    r.c.top
        .store
        .delete_volume_type(&t.id)
        .await
        .map_err(store_err)?;
    Ok(super::accepted())
}

/// `GET /types/{id}/extra_specs`.
async fn specs(r: Req) -> Res {
    let t = visible(&r).await?;
    let v = view(&t, r.c.is_admin());
    Ok(Json(json!({"extra_specs": v["extra_specs"]})).into_response())
}

/// `POST /types/{id}/extra_specs` (admin): merged at the top and into the type's copies on
/// the sites that have one.
async fn set_specs(r: Req, OsJson(body): OsJson) -> Res {
    if !r.c.is_admin() {
        return Err(policy("volume_extension:types_extra_specs:create"));
    }
    let t = visible(&r).await?;
    let added = match body.get("extra_specs") {
        Some(v @ Value::Object(_)) => extra_specs(Some(v))?,
        _ => {
            return Err(bad(
                "Missing required element 'extra_specs' in request body.",
            ))
        }
    };
    let top = &r.c.top;
    let mut all = t.extra_specs.as_object().cloned().unwrap_or_default();
    all.extend(added.clone());
    top.store
        .set_volume_type_extra_specs(&t.id, &Value::Object(all))
        .await
        .map_err(store_err)?;
    for (site_id, site_type) in top
        .store
        .site_volume_types_of(&t.id)
        .await
        .map_err(store_err)?
    {
        let Some(site) = top.sites.get(&site_id) else {
            continue;
        };
        let req = SiteRequest::new(
            Method::POST,
            "block-storage",
            format!("/types/{site_type}/extra_specs"),
            Scope::Admin,
        )
        .json(&json!({"extra_specs": added}));
        if let Err(e) = site.client.send(req).await.and_then(|r| r.ok()) {
            tracing::warn!(site = %site.name(), volume_type = %t.name, error = %e, "extra specs not set on site");
        }
    }
    Ok(Json(json!({ "extra_specs": added })).into_response())
}

/// The site's ID of a top type: the site's type of the same name, made there now when it has
/// none (public on the site: the top decides who may use it).
pub async fn ensure_on_site(
    top: &Top,
    t: &VolumeType,
    site: &SiteHandle,
) -> Result<String, ApiError> {
    if let Some(id) = top
        .store
        .site_volume_type(&t.id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(id);
    }
    let lock = top.lock_for(&format!("volume-type/{}/{}", t.id, site.id()));
    let _guard = lock.lock().await;
    let site_err = |e| site_error(Service::Volume, site, e);
    let listed = site
        .client
        .json(SiteRequest::new(
            Method::GET,
            "block-storage",
            "/types",
            Scope::Admin,
        ))
        .await
        .map_err(site_err)?;
    let existing = listed["volume_types"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == t.name.as_str())
        .and_then(|v| v["id"].as_str())
        .map(String::from);
    let id = match existing {
        Some(id) => id,
        None => {
            let body = json!({"volume_type": {"name": t.name, "description": t.description,
                "os-volume-type-access:is_public": true, "extra_specs": t.extra_specs}});
            let made = site
                .client
                .json(
                    SiteRequest::new(Method::POST, "block-storage", "/types", Scope::Admin)
                        .json(&body),
                )
                .await
                .map_err(site_err)?;
            tracing::info!(site = %site.name(), volume_type = %t.name, "volume type made on site");
            made["volume_type"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    top.store
        .set_site_volume_type(&t.id, site.id(), &id)
        .await
        .map_err(store_err)?;
    Ok(id)
}
