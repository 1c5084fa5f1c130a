//! `/attachments` (3.27+): the attachments Nova made, listed, shown, and deleted (detach).

use super::query::Params;
use super::{json_response, version_not_found, Req, Res};
use crate::site::Site;
use crate::volume::model::Attachment;
use crate::volume::ops::not_found;
use crate::volume::views::{attachment_detail, attachment_summary};
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use fedstack_api_types::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Routes under `/v3[/{project_id}]`.
pub fn routes() -> Router<Arc<Site>> {
    Router::new()
        .route("/attachments", get(list))
        .route("/attachments/detail", get(detail))
        .route("/attachments/{attachment_id}", get(show).delete(delete))
}

#[derive(Deserialize)]
struct AttPath {
    attachment_id: String,
}

fn attachment_not_found(id: &str) -> ApiError {
    not_found(format!(
        "Volume attachment could not be found with filter: attachment_id = {id}."
    ))
}

fn require_new_attach(req: &Req) -> Result<(), ApiError> {
    if req.at_least(27) {
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
    require_new_attach(&req)?;
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
        .filter(|a| p.get("instance_id").is_none_or(|s| a.server_id == s))
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
    require_new_attach(&req)?;
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let a = d
        .attachments
        .get(&p.attachment_id)
        .filter(|a| req.ctx.is_admin() || a.project_id == req.ctx.project_id())
        .ok_or_else(|| attachment_not_found(&p.attachment_id))?;
    Ok(json_response(
        StatusCode::OK,
        json!({"attachment": attachment_detail(a)}),
    ))
}

/// `DELETE /attachments/{id}`: detaches; answers the attachments left on the connection.
async fn delete(req: Req, Path(p): Path<AttPath>) -> Res {
    require_new_attach(&req)?;
    let now = Utc::now();
    let mut g = req.ctx.site.data.lock();
    let d = &mut g.volume;
    d.settle(now);
    let visible = d
        .attachments
        .get(&p.attachment_id)
        .is_some_and(|a| req.ctx.is_admin() || a.project_id == req.ctx.project_id());
    if !visible {
        return Err(attachment_not_found(&p.attachment_id));
    }
    d.remove_attachment(&p.attachment_id, now);
    Ok(json_response(StatusCode::OK, json!({"attachments": []})))
}
