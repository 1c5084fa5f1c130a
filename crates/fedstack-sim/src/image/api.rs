//! Glance v2 images: versions, discovery, schemas, create, show, delete, tags and actions.

use super::common::{bad_request, forbidden, json, no_content, resource_not_found, Caller, Res};
use super::model::{Image, ImageStatus};
use super::{new_id, view};
use crate::site::Site;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use fedstack_api_types::glance::create::creation;
use fedstack_api_types::glance::respond::{
    duplicate_id, json_body, not_found_in_controller, protected,
};
use fedstack_api_types::glance::{discovery, schema};
use fedstack_api_types::{ApiError, Service};
use serde_json::json;
use std::sync::Arc;

/// `GET /image`: the version list, 300 Multiple Choices.
pub async fn versions_root(State(site): State<Arc<Site>>) -> Response {
    json(
        StatusCode::MULTIPLE_CHOICES,
        discovery::versions(&site.service_root(Service::Image)),
    )
}

/// `GET /image/versions`.
pub async fn versions(State(site): State<Arc<Site>>) -> Response {
    json(
        StatusCode::OK,
        discovery::versions(&site.service_root(Service::Image)),
    )
}

/// `GET /v2/info/import`.
pub async fn info_import(_: Caller) -> Response {
    json(StatusCode::OK, discovery::info_import())
}

/// `GET /v2/info/stores`.
pub async fn info_stores(_: Caller) -> Response {
    json(StatusCode::OK, discovery::info_stores())
}

/// `GET /v2/schemas/image`.
pub async fn schema_image(_: Caller) -> Response {
    json(StatusCode::OK, schema::IMAGE.clone())
}

/// `GET /v2/schemas/images`.
pub async fn schema_images(_: Caller) -> Response {
    json(StatusCode::OK, schema::IMAGES.clone())
}

/// `POST /v2/images`.
pub async fn create(caller: Caller, body: Body) -> Res {
    let c = creation(json_body(body).await?, &caller.actor())?;
    let id = c.id.unwrap_or_else(new_id);
    let mut image = Image::new(id, c.attrs.owner.clone(), Utc::now());
    image.set_attrs(c.attrs);
    let site = caller.site.clone();
    let mut g = site.data.lock();
    if g.image.images.contains_key(&image.id) {
        return Err(duplicate_id(&image.id));
    }
    let body = view::image(&image);
    let location = format!(
        "{}/v2/images/{}",
        site.service_root(Service::Image),
        image.id
    );
    g.image.insert(image);
    Ok(discovery::created(body, &location))
}

/// Adds a tag once (tags are a set kept in insertion order).
fn add_tag(image: &mut Image, tag: &str) {
    if !image.tags.iter().any(|t| t == tag) {
        image.tags.push(tag.to_string());
    }
}

/// `GET /v2/images/{id}`.
pub async fn show(caller: Caller, Path(id): Path<String>) -> Res {
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(&id) {
        i.settle(Utc::now());
    }
    let image = caller.image(&g.image, &id)?;
    Ok(json(StatusCode::OK, view::image(image)))
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(caller: Caller, Path(id): Path<String>) -> Res {
    let mut g = caller.site.data.lock();
    let image = caller.image_mut(&mut g.image, &id, "delete_image")?;
    if image.protected {
        return Err(protected(&id));
    }
    g.image.delete_image(&id);
    Ok(no_content())
}

/// `PUT /v2/images/{id}/tags/{tag}`.
pub async fn add_tag_route(caller: Caller, Path((id, tag)): Path<(String, String)>) -> Res {
    schema::validate_image(&json!({ "tags": [tag] })).map_err(bad_request)?;
    let mut g = caller.site.data.lock();
    let image = caller
        .image_mut(&mut g.image, &id, "modify_image")
        .map_err(|e| not_found_in_controller(e, &id))?;
    add_tag(image, &tag);
    image.updated_at = Utc::now();
    Ok(no_content())
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn delete_tag(caller: Caller, Path((id, tag)): Path<(String, String)>) -> Res {
    let mut g = caller.site.data.lock();
    let image = caller
        .image_mut(&mut g.image, &id, "modify_image")
        .map_err(|e| not_found_in_controller(e, &id))?;
    let before = image.tags.len();
    image.tags.retain(|t| *t != tag);
    if image.tags.len() == before {
        return Err(resource_not_found());
    }
    image.updated_at = Utc::now();
    Ok(no_content())
}

/// `POST /v2/images/{id}/actions/deactivate`.
pub async fn deactivate(caller: Caller, Path(id): Path<String>) -> Res {
    transition(
        &caller,
        &id,
        "deactivate",
        ImageStatus::Active,
        ImageStatus::Deactivated,
    )
}

/// `POST /v2/images/{id}/actions/reactivate`.
pub async fn reactivate(caller: Caller, Path(id): Path<String>) -> Res {
    transition(
        &caller,
        &id,
        "reactivate",
        ImageStatus::Deactivated,
        ImageStatus::Active,
    )
}

/// Moves an image `from` → `to` (a no-op when already `to`), else 403 as Glance.
fn transition(caller: &Caller, id: &str, action: &str, from: ImageStatus, to: ImageStatus) -> Res {
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(id) {
        i.settle(Utc::now());
    }
    let image = caller.image_mut(&mut g.image, id, action)?;
    match image.status {
        s if s == to => {}
        s if s == from => {
            image.status = to;
            image.updated_at = Utc::now();
        }
        s => {
            return Err(forbidden(format!(
                "Not allowed to {action} image in status '{s}'"
            )));
        }
    }
    Ok(no_content())
}

/// webob's 404 for any path Glance does not route (after authentication, as Glance).
pub async fn not_found(_: Caller) -> ApiError {
    resource_not_found()
}
