//! `/attachments` (3.27+): list, show, create (reserve, optionally connect), update
//! (connect), `os-complete` (3.44) and delete.

use super::query::Params;
use super::{json_response, version_not_found, Req, Res};
use crate::ctx::OsJson;
use crate::site::Site;
use crate::volume::model::Attachment;
use crate::volume::ops::Connector;
use crate::volume::schema::{self, bad, field_error, py_repr, wrapper};
use crate::volume::views::{attachment_detail, attachment_summary};
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use fedstack_api_types::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Routes under `/v3[/{project_id}]`.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/attachments", get(list).post(create))
        .route("/attachments/detail", get(detail))
        .route(
            "/attachments/{attachment_id}",
            get(show).put(update).delete(delete),
        )
        .route("/attachments/{attachment_id}/action", post(action))
}

#[derive(Deserialize)]
struct AttPath {
    attachment_id: String,
}

fn require_version(req: &Req, minor: u16) -> Result<(), ApiError> {
    if req.at_least(minor) {
        Ok(())
    } else {
        Err(version_not_found())
    }
}

/// `GET /attachments`
async fn list(req: Req, RawQuery(q): RawQuery) -> Res {
    list_attachments(req, q.as_deref(), attachment_summary)
}

/// `GET /attachments/detail`
async fn detail(req: Req, RawQuery(q): RawQuery) -> Res {
    list_attachments(req, q.as_deref(), attachment_detail)
}

fn list_attachments(req: Req, q: Option<&str>, view: fn(&Attachment) -> Value) -> Res {
    require_version(&req, 27)?;
    let p = Params::parse(q);
    let limit = p.limit()?;
    let scope = if req.ctx.is_admin() && p.flag("all_tenants") {
        p.get("project_id").map(str::to_string)
    } else {
        Some(req.ctx.project_id().to_string())
    };
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let items: Vec<Value> = d
        .attachments
        .newest_first(scope.as_deref())
        .filter_map(|id| d.attachments.get(id))
        .filter(|a| p.get("volume_id").is_none_or(|v| a.volume_id == v))
        .filter(|a| {
            p.get("instance_id")
                .is_none_or(|s| a.server_id.as_deref() == Some(s))
        })
        .take(limit)
        .map(view)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "attachments": items }),
    ))
}

/// `GET /attachments/{id}`
async fn show(req: Req, Path(p): Path<AttPath>) -> Res {
    require_version(&req, 27)?;
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let a = d.visible_attachment(&req.caller(), &p.attachment_id)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"attachment": attachment_detail(a)}),
    ))
}

fn extra(name: &str, o: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(field_error(
            name,
            &Value::Object(o.clone()),
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(()),
    }
}

/// A connector object: its `host`, `mountpoint` (Cinder's `na` when absent) and `mode`.
fn connector(v: &Value) -> Result<Option<Connector>, ApiError> {
    let o = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => return Err(schema::type_error("connector", other, "'object', 'null'")),
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Some(Connector {
        host: text("host").unwrap_or_default(),
        mountpoint: text("mountpoint").unwrap_or_else(|| "na".into()),
        mode: match o.get("mode").and_then(Value::as_str) {
            Some("ro") => Some("ro"),
            Some("rw") => Some("rw"),
            _ => None,
        },
    }))
}

/// A `uuid`-formatted field.
fn uuid_field(o: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match o.get(key) {
        None => Ok(None),
        Some(v @ Value::String(s)) => {
            if uuid::Uuid::parse_str(s).is_err() {
                return Err(field_error(
                    key,
                    v,
                    &format!("{} is not a 'uuid'", py_repr(v)),
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(other) => Err(schema::type_error(key, other, "'string'")),
    }
}

/// `POST /attachments`
async fn create(req: Req, OsJson(body): OsJson) -> Res {
    require_version(&req, 27)?;
    let o = wrapper(&body, "attachment")?;
    let mut allowed = vec!["instance_uuid", "connector", "volume_uuid"];
    if req.at_least(54) {
        allowed.push("mode");
    }
    extra("attachment", o, &allowed)?;
    let Some(volume_id) = uuid_field(o, "volume_uuid")? else {
        return Err(field_error(
            "attachment",
            &Value::Object(o.clone()),
            "'volume_uuid' is a required property",
        ));
    };
    let server_id = uuid_field(o, "instance_uuid")?;
    let conn = connector(o.get("connector").unwrap_or(&Value::Null))?;
    let mode = match o.get("mode") {
        None => None,
        Some(Value::String(m)) if m == "rw" => Some("rw"),
        Some(Value::String(m)) if m == "ro" => Some("ro"),
        Some(v) => {
            let msg = format!("{} is not one of ['rw', 'ro']", py_repr(v));
            return Err(field_error("mode", v, &msg));
        }
    };
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let caller = req.caller();
    let id = d.create_attachment(&caller, &volume_id, server_id.as_deref(), conn, mode, now)?;
    let a = d.visible_attachment(&caller, &id)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"attachment": attachment_detail(a)}),
    ))
}

/// `PUT /attachments/{id}` with `{"attachment": {"connector": {...}}}`.
async fn update(req: Req, Path(p): Path<AttPath>, OsJson(body): OsJson) -> Res {
    require_version(&req, 27)?;
    let o = wrapper(&body, "attachment")?;
    extra("attachment", o, &["connector"])?;
    let conn = match o.get("connector") {
        Some(Value::Object(c)) if c.is_empty() => {
            let v = Value::Object(c.clone());
            return Err(field_error(
                "connector",
                &v,
                "{} does not have enough properties",
            ));
        }
        Some(v @ Value::Object(_)) => connector(v)?,
        Some(other) => return Err(schema::type_error("connector", other, "'object'")),
        None => {
            return Err(field_error(
                "attachment",
                &Value::Object(o.clone()),
                "'connector' is a required property",
            ))
        }
    };
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let caller = req.caller();
    d.update_attachment(&caller, &p.attachment_id, conn.unwrap_or_default(), now)?;
    let a = d.visible_attachment(&caller, &p.attachment_id)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"attachment": attachment_detail(a)}),
    ))
}

/// `POST /attachments/{id}/action` with `os-complete` (3.44): 204.
async fn action(req: Req, Path(p): Path<AttPath>, OsJson(body): OsJson) -> Res {
    require_version(&req, 44)?;
    let Some(o) = body.as_object().filter(|o| o.len() == 1) else {
        return Err(bad("Malformed request body"));
    };
    if !o.contains_key("os-complete") {
        let name = o.keys().next().cloned().unwrap_or_default();
        return Err(bad(format!(
            "There is no such action: {name}. Verify the request body and Content-Type header and try again."
        )));
    }
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.complete_attachment(&req.caller(), &p.attachment_id, now)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /attachments/{id}`: detaches; answers the attachments left on the connection.
async fn delete(req: Req, Path(p): Path<AttPath>) -> Res {
    require_version(&req, 27)?;
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    d.delete_attachment(&req.caller(), &p.attachment_id, now)?;
    Ok(json_response(StatusCode::OK, json!({"attachments": []})))
}
