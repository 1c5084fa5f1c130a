//! `/snapshots`: made on the site of their volume; show, update, delete and metadata through
//! that site; lists from the index.

use super::records::{self, tenant_scope, SNAPSHOT, VOLUME};
use super::{bad, site_for_write, Req, Res, TOP_ID_KEY};
use crate::Top;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::Method;
use axum::routing::{any, get};
use axum::Router;
use fedstack_api_types::http::{Mv, OsJson};
use fedstack_site_client::SiteRequest;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/snapshots", get(list).post(create))
        .route("/snapshots/detail", get(detail))
        .route(
            "/snapshots/{snapshot_id}",
            get(show).put(update).delete(delete),
        )
        .route("/snapshots/{snapshot_id}/{*rest}", any(metadata))
}

async fn list(r: Req, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    records::list(&SNAPSHOT, &r, mv, q.as_deref(), false).await
}

async fn detail(r: Req, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    records::list(&SNAPSHOT, &r, mv, q.as_deref(), true).await
}

async fn show(r: Req, Mv(mv): Mv) -> Res {
    records::show(&SNAPSHOT, &r, mv).await
}

async fn update(r: Req, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    if !body.get("snapshot").is_some_and(Value::is_object) {
        return Err(bad("Missing required element 'snapshot' in request body."));
    }
    records::update(&SNAPSHOT, &r, mv, body).await
}

async fn delete(r: Req, Mv(mv): Mv) -> Res {
    records::delete(&SNAPSHOT, &r, mv, None).await
}

async fn metadata(r: Req, Mv(mv): Mv, method: Method, body: Bytes) -> Res {
    let rest = r.id("rest");
    records::metadata(&SNAPSHOT, &r, mv, method, &rest, body).await
}

/// `POST /snapshots`: on the volume's site, in the tenant's project there.
async fn create(r: Req, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    let top = r.c.top.clone();
    let Some(Value::Object(raw)) = body.get("snapshot") else {
        return Err(bad("Missing required element 'snapshot' in request body."));
    };
    let mut raw = raw.clone();
    let volume_id =
        match raw.get("volume_id") {
            Some(Value::String(v)) if !v.is_empty() => v.clone(),
            _ => return Err(bad(
                "Invalid input for field/attribute snapshot. 'volume_id' is a required property",
            )),
        };
    let volume = super::owned_route(&r.c, VOLUME.kind, &volume_id, |i| VOLUME.not_found(i)).await?;
    let site = site_for_write(&top, &volume)?;
    let route = records::begin_route(&top, &SNAPSHOT, &site, r.c.project_id()).await?;
    let size = match top.store.volume_row(VOLUME.kind, &volume_id).await {
        Ok(Some(v)) => v.body.get("size").and_then(Value::as_i64).unwrap_or(0),
        _ => 0,
    };
    let claim = records::claim(&top, &route, true, size).await?;
    let result = async {
        let scope = tenant_scope(&top, &site, r.c.project_id()).await?;
        raw.insert(
            "volume_id".into(),
            json!(volume.site_resource_id.clone().unwrap_or_default()),
        );
        let mut meta = raw
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        meta.insert(TOP_ID_KEY.into(), json!(route.top_id));
        raw.insert("metadata".into(), Value::Object(meta));
        let req = SiteRequest::new(Method::POST, "block-storage", "/snapshots", scope)
            .json(&json!({ "snapshot": raw }));
        records::send(&site, req, mv).await
    }
    .await;
    records::finish_create(&top, &SNAPSHOT, route, &site, r.c.user_id(), result, claim).await
}
