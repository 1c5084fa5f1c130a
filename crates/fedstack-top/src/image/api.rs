//! Glance v2 images at the top: versions, discovery, schemas, create, show, delete and tags.

use super::access::{glance_store_error, Glance};
use super::record::{Policy, TopImage};
use super::{mirror, storage};
use crate::Top;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use fedstack_api_types::glance::create::creation;
use fedstack_api_types::glance::respond::{
    self, bad_request, duplicate_id, json, json_body, no_content, not_found_in_controller,
    protected, resource_not_found,
};
use fedstack_api_types::glance::{discovery, schema, ImageRecord, ImageStatus};
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::StoreError;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// `GET /image`: the version list, 300 Multiple Choices.
pub async fn versions_root(State(top): State<Arc<Top>>) -> Response {
    json(
        StatusCode::MULTIPLE_CHOICES,
        discovery::versions(&top.service_root(Service::Image)),
    )
}

/// `GET /image/versions`.
pub async fn versions(State(top): State<Arc<Top>>) -> Response {
    json(
        StatusCode::OK,
        discovery::versions(&top.service_root(Service::Image)),
    )
}

/// `GET /v2/info/import`.
pub async fn info_import(_: Glance) -> Response {
    json(StatusCode::OK, discovery::info_import())
}

/// `GET /v2/info/stores`.
pub async fn info_stores(_: Glance) -> Response {
    json(StatusCode::OK, discovery::info_stores())
}

/// `GET /v2/schemas/image`.
pub async fn schema_image(_: Glance) -> Response {
    json(StatusCode::OK, schema::IMAGE.clone())
}

/// `GET /v2/schemas/images`.
pub async fn schema_images(_: Glance) -> Response {
    json(StatusCode::OK, schema::IMAGES.clone())
}

/// `POST /v2/images`: a queued image in the index; `fedstack_replication` picks its policy; an
/// image scope names the sites it is copied to once uploaded.
pub async fn create(g: Glance, body: Body) -> Res {
    let c = creation(json_body(body).await?, &g.actor())?;
    let policy = Policy::of(&c.attrs)?;
    let targets = crate::scope::image::create_targets(&g.0)?;
    let now = Utc::now();
    let image = TopImage {
        record: ImageRecord {
            id: c.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            status: ImageStatus::Queued,
            attrs: c.attrs,
            size: None,
            stored: None,
            virtual_size: None,
            created_at: now,
            updated_at: now,
        },
        policy,
        local_data: false,
    };
    let id = &image.record.id;
    match g.top().store.insert_image(&image.to_row()).await {
        Err(StoreError::Conflict(_)) => return Err(duplicate_id(id)),
        other => other.map_err(glance_store_error)?,
    }
    crate::scope::image::on_create(g.top(), id, &targets).await?;
    let location = format!("{}/v2/images/{id}", g.top().service_root(Service::Image));
    Ok(discovery::created(image.record.to_json(), &location))
}

/// `GET /v2/images/{id}`.
pub async fn show(g: Glance, Path(id): Path<String>) -> Res {
    Ok(json(StatusCode::OK, g.image(&id).await?.record.to_json()))
}

/// `DELETE /v2/images/{id}`: the image, its data at the top and (in the background) its
/// copies on sites.
pub async fn delete(g: Glance, Path(id): Path<String>) -> Res {
    let lock = g.lock(&id);
    let _guard = lock.lock().await;
    let image = g.image_to_change(&id, "delete_image").await?;
    if image.record.attrs.protected {
        return Err(protected(&id));
    }
    let store = &g.top().store;
    let copies = store.image_copies(&id).await.map_err(glance_store_error)?;
    store.delete_image(&id).await.map_err(glance_store_error)?;
    storage::remove(g.top(), &id).await;
    mirror::delete_copies(g.top(), copies);
    tracing::info!(image = %id, "image deleted");
    Ok(no_content())
}

/// `PUT /v2/images/{id}/tags/{tag}`.
pub async fn add_tag(g: Glance, Path((id, tag)): Path<(String, String)>) -> Res {
    schema::validate_image(&json!({ "tags": [tag] })).map_err(bad_request)?;
    change_tags(&g, &id, &tag, Method::PUT).await
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn delete_tag(g: Glance, Path((id, tag)): Path<(String, String)>) -> Res {
    change_tags(&g, &id, &tag, Method::DELETE).await
}

/// Adds (`PUT`) or removes (`DELETE`) a tag, at the top and on the copies.
async fn change_tags(g: &Glance, id: &str, tag: &str, method: Method) -> Res {
    let lock = g.lock(id);
    let _guard = lock.lock().await;
    let mut image = g
        .image_to_change(id, "modify_image")
        .await
        .map_err(|e| not_found_in_controller(e, id))?;
    let attrs = &mut image.record.attrs;
    if method == Method::PUT {
        attrs.add_tag(tag);
    } else if let Some(i) = attrs.tags.iter().position(|t| t == tag) {
        attrs.tags.remove(i);
    } else {
        return Err(resource_not_found());
    }
    image.record.updated_at = Utc::now();
    g.top()
        .store
        .upsert_image(&image.to_row())
        .await
        .map_err(glance_store_error)?;
    let segment = mirror::path_segment(tag);
    mirror::forward(g.top(), id, move |site_image_id| {
        SiteRequest::new(
            method.clone(),
            "image",
            format!("/v2/images/{site_image_id}/tags/{segment}"),
            Scope::Admin,
        )
    });
    Ok(no_content())
}

/// webob's 404 for any path Glance does not route (after authentication, as Glance).
pub async fn not_found(_: Glance) -> ApiError {
    resource_not_found()
}

/// webob's 405 for a method a Glance route does not take (after authentication).
pub async fn method_not_allowed(_: Glance, method: Method) -> Response {
    respond::method_not_allowed(&method)
}
