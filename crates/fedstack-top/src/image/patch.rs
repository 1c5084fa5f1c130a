//! `PATCH /v2/images/{id}`: Glance's JSON-patch update of the index record, carried on to the
//! image's copies on sites.

use super::access::{glance_store_error, Glance};
use super::copy;
use super::mirror;
use super::record::Policy;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use fedstack_api_types::glance::patch::{self, Dialect};
use fedstack_api_types::glance::respond::{json, json_body, media_type};
use fedstack_api_types::glance::ImageStatus;
use fedstack_api_types::ApiError;
use fedstack_site_client::{Scope, SiteRequest};
use reqwest::Method;
use serde_json::Value;

/// `PATCH /v2/images/{id}`.
pub async fn update(
    g: Glance,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(dialect) = Dialect::of(&media_type(&headers)) else {
        return Ok(patch::unsupported_media_type(&headers));
    };
    let changes = patch::parse(json_body(body).await?, dialect)?;
    let lock = g.lock(&id);
    let guard = lock.lock().await;
    let mut image = g.image(&id).await?;
    let before = image.policy;
    patch::apply(
        &changes,
        &mut image.record.attrs,
        image.record.status,
        &g.actor(),
    )?;
    image.policy = Policy::of(&image.record.attrs)?;
    if !changes.is_empty() {
        image.record.updated_at = Utc::now();
    }
    g.top()
        .store
        .upsert_image(&image.to_row())
        .await
        .map_err(glance_store_error)?;
    drop(guard);
    let now_eager = image.policy == Policy::Eager && before != Policy::Eager;
    if now_eager && image.local_data && image.record.status == ImageStatus::Active {
        copy::schedule_eager(g.top(), &id)
            .await
            .map_err(glance_store_error)?;
    }
    let ops: Vec<Value> = changes
        .iter()
        .filter(|c| c.root() != "owner")
        .map(patch::Change::to_json)
        .collect();
    if !ops.is_empty() {
        let body = Value::Array(ops);
        mirror::forward(g.top(), &id, move |site_image_id| {
            SiteRequest::new(
                Method::PATCH,
                "image",
                format!("/v2/images/{site_image_id}"),
                Scope::Admin,
            )
            .raw(
                bytes::Bytes::from(body.to_string()),
                "application/openstack-images-v2.1-json-patch",
            )
        });
    }
    Ok(json(StatusCode::OK, image.record.to_json()))
}
