//! `/types`: volume types (admins manage them) and their extra specs.

use super::{json_response, Req, Res};
use crate::ctx::OsJson;
use crate::site::Site;
use crate::volume::model::VolumeType;
use crate::volume::ops::not_found;
use crate::volume::schema::{self, bad, field_error, wrapper};
use crate::volume::views::volume_type;
use crate::volume::{new_uuid, VolumeData};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use fedstack_api_types::{ApiError, Service};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Routes under `/v3[/{project_id}]`.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/types", get(list).post(create))
        .route("/types/default", get(show_default))
        .route("/types/{type_id}", get(show).put(update).delete(delete))
        .route(
            "/types/{type_id}/extra_specs",
            get(specs_index).post(specs_create),
        )
        .route(
            "/types/{type_id}/extra_specs/{key}",
            get(spec_show).put(spec_update).delete(spec_delete),
        )
}

#[derive(Deserialize)]
struct TypePath {
    type_id: String,
}

#[derive(Deserialize)]
struct SpecPath {
    type_id: String,
    key: String,
}

fn type_not_found(id: &str) -> ApiError {
    not_found(format!("Volume type {id} could not be found."))
}

impl VolumeData {
    fn type_by_id(&self, id: &str) -> Result<&VolumeType, ApiError> {
        self.types.get(id).ok_or_else(|| type_not_found(id))
    }

    fn type_by_id_mut(&mut self, id: &str) -> Result<&mut VolumeType, ApiError> {
        self.types.get_mut(id).ok_or_else(|| type_not_found(id))
    }

    /// Cinder refuses extra spec changes while volumes use the type.
    fn type_unused(&mut self, id: &str) -> Result<(), ApiError> {
        self.settle(Utc::now());
        if self.quotas.type_in_use(id) {
            return Err(bad("Volume Type is currently in use."));
        }
        Ok(())
    }
}

/// `GET /types`
async fn list(req: Req) -> Res {
    let g = req.ctx.site.data.lock();
    let admin = req.ctx.is_admin();
    let types: Vec<Value> = g
        .volume
        .types
        .values()
        .filter(|t| admin || t.is_public)
        .map(|t| volume_type(t, admin))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "volume_types": types }),
    ))
}

/// `GET /types/{id}`
async fn show(req: Req, Path(p): Path<TypePath>) -> Res {
    let g = req.ctx.site.data.lock();
    let t = g.volume.type_by_id(&p.type_id)?;
    let body = json!({"volume_type": volume_type(t, req.ctx.is_admin())});
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /types/default`
async fn show_default(req: Req) -> Res {
    let g = req.ctx.site.data.lock();
    let t = g.volume.type_by_id(&g.volume.default_type_id)?;
    let body = json!({"volume_type": volume_type(t, req.ctx.is_admin())});
    Ok(json_response(StatusCode::OK, body))
}

/// A type name: a non-blank string of at most 255 characters.
fn type_name(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) if s.trim().is_empty() => Err(bad("Volume type name can not be empty.")),
        Value::String(s) if s.chars().count() > 255 => {
            Err(field_error("name", v, &format!("'{s}' is too long")))
        }
        Value::String(s) => Ok(s.trim().to_string()),
        other => Err(schema::type_error("name", other, "'string'")),
    }
}

/// Extra specs: string keys, string (or scalar, stringified) values.
fn extra_specs(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => Ok(o
            .iter()
            .map(|(k, v)| (k.clone(), schema::py_str(v)))
            .collect()),
        Some(other) => Err(schema::type_error("extra_specs", other, "'object'")),
    }
}

/// `POST /types` (admin)
async fn create(req: Req, OsJson(body): OsJson) -> Res {
    req.require_admin("volume_extension:type_create")?;
    let t = wrapper(&body, "volume_type")?;
    let name = match t.get("name") {
        Some(v) => type_name(v)?,
        None => {
            return Err(field_error(
                "volume_type",
                &Value::Object(t.clone()),
                "'name' is a required property",
            ))
        }
    };
    let description = schema::opt_string(t, "description")?;
    let is_public = match t.get("os-volume-type-access:is_public") {
        None | Some(Value::Null) => true,
        Some(v) => schema::strict_bool(v)?,
    };
    let specs = extra_specs(t.get("extra_specs"))?;
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    if d.types.values().any(|x| x.name == name) {
        return Err(ApiError::conflict(
            Service::Volume,
            format!("Volume Type {name} already exists."),
        ));
    }
    let id = new_uuid();
    let vt = VolumeType {
        id: id.clone(),
        name,
        description,
        is_public,
        extra_specs: specs,
        created_at: Utc::now(),
    };
    let body = json!({"volume_type": volume_type(&vt, true)});
    d.types.insert(id, vt);
    Ok(json_response(StatusCode::OK, body))
}

/// `PUT /types/{id}` (admin)
async fn update(req: Req, Path(p): Path<TypePath>, OsJson(body): OsJson) -> Res {
    req.require_admin("volume_extension:type_update")?;
    let t = wrapper(&body, "volume_type")?;
    let name = t
        .get("name")
        .filter(|v| !v.is_null())
        .map(type_name)
        .transpose()?;
    let description = schema::opt_string(t, "description")?;
    let is_public = match t.get("is_public") {
        None | Some(Value::Null) => None,
        Some(v) => Some(schema::strict_bool(v)?),
    };
    if name.is_none() && description.is_none() && is_public.is_none() {
        return Err(bad(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.type_by_id(&p.type_id)?;
    if let Some(n) = &name {
        if d.types.values().any(|x| &x.name == n && x.id != p.type_id) {
            return Err(ApiError::conflict(
                Service::Volume,
                format!("Volume Type {n} already exists."),
            ));
        }
    }
    let vt = d.type_by_id_mut(&p.type_id)?;
    if let Some(n) = name {
        vt.name = n;
    }
    if description.is_some() {
        vt.description = description;
    }
    if let Some(pb) = is_public {
        vt.is_public = pb;
    }
    let body = json!({"volume_type": volume_type(vt, true)});
    Ok(json_response(StatusCode::OK, body))
}

/// `DELETE /types/{id}` (admin)
async fn delete(req: Req, Path(p): Path<TypePath>) -> Res {
    req.require_admin("volume_extension:type_delete")?;
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.type_by_id(&p.type_id)?;
    if p.type_id == d.default_type_id {
        return Err(bad(format!(
            "The volume type {} is a default volume type and cannot be deleted.",
            p.type_id
        )));
    }
    d.settle(Utc::now());
    if d.quotas.type_in_use(&p.type_id) {
        return Err(bad("Target volume type is still in use."));
    }
    d.types.shift_remove(&p.type_id);
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /types/{id}/extra_specs`
async fn specs_index(req: Req, Path(p): Path<TypePath>) -> Res {
    let g = req.ctx.site.data.lock();
    let t = g.volume.type_by_id(&p.type_id)?;
    let view = volume_type(t, req.ctx.is_admin());
    Ok(json_response(
        StatusCode::OK,
        json!({"extra_specs": view["extra_specs"].clone()}),
    ))
}

/// `POST /types/{id}/extra_specs` (admin): merge; answers the request body.
async fn specs_create(req: Req, Path(p): Path<TypePath>, OsJson(body): OsJson) -> Res {
    req.require_admin("volume_extension:types_extra_specs:create")?;
    let specs = match body.get("extra_specs") {
        Some(v @ Value::Object(_)) => extra_specs(Some(v))?,
        Some(other) => return Err(schema::type_error("extra_specs", other, "'object'")),
        None => return Err(bad("'extra_specs' is a required property")),
    };
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.type_unused(&p.type_id)?;
    d.type_by_id_mut(&p.type_id)?.extra_specs.extend(specs);
    Ok(json_response(StatusCode::OK, body))
}

/// `GET /types/{id}/extra_specs/{key}`
async fn spec_show(req: Req, Path(p): Path<SpecPath>) -> Res {
    let g = req.ctx.site.data.lock();
    let t = g.volume.type_by_id(&p.type_id)?;
    let view = volume_type(t, req.ctx.is_admin());
    let v = view["extra_specs"].get(&p.key).cloned().ok_or_else(|| {
        not_found(format!(
            "Volume Type {} has no extra specs with key {}.",
            p.type_id, p.key
        ))
    })?;
    let mut m = Map::new();
    m.insert(p.key, v);
    Ok(json_response(StatusCode::OK, Value::Object(m)))
}

/// `PUT /types/{id}/extra_specs/{key}` (admin) with `{key: value}`.
async fn spec_update(req: Req, Path(p): Path<SpecPath>, OsJson(body): OsJson) -> Res {
    req.require_admin("volume_extension:types_extra_specs:update")?;
    let Some(value) = body.get(&p.key) else {
        return Err(bad("Request body and URI mismatch"));
    };
    let value = schema::py_str(value);
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.type_unused(&p.type_id)?;
    d.type_by_id_mut(&p.type_id)?
        .extra_specs
        .insert(p.key.clone(), value);
    Ok(json_response(StatusCode::OK, body))
}

/// `DELETE /types/{id}/extra_specs/{key}` (admin)
async fn spec_delete(req: Req, Path(p): Path<SpecPath>) -> Res {
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.type_by_id(&p.type_id)?;
    req.require_admin("volume_extension:types_extra_specs:delete")?;
    d.type_unused(&p.type_id)?;
    let t = d.type_by_id_mut(&p.type_id)?;
    if t.extra_specs.remove(&p.key).is_none() {
        return Err(not_found(format!(
            "Volume Type {} has no extra specs with key {}.",
            p.type_id, p.key
        )));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}
