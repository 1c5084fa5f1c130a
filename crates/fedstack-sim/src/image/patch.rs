//! `PATCH /v2/images/{id}`: JSON-patch updates (`application/openstack-images-v2.1-json-patch`,
//! and the draft-4 style `v2.0-json-patch`), validated and applied as Glance does.

use super::common::{json, media_type, Caller, Res};
use super::view;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use fedstack_api_types::glance::patch::{self, Dialect};
use fedstack_api_types::glance::respond::json_body;

/// `PATCH /v2/images/{id}`.
pub async fn update(caller: Caller, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Res {
    let Some(dialect) = Dialect::of(&media_type(&headers)) else {
        return Ok(patch::unsupported_media_type(&headers));
    };
    let changes = patch::parse(json_body(body).await?, dialect)?;
    let now = Utc::now();
    let mut g = caller.site.data.lock();
    if let Some(i) = g.image.images.get_mut(&id) {
        i.settle(now);
    }
    let mut image = caller.image(&g.image, &id)?.clone();
    let mut attrs = image.attrs();
    patch::apply(&changes, &mut attrs, image.status, &caller.actor())?;
    image.set_attrs(attrs);
    if !changes.is_empty() {
        image.updated_at = now;
    }
    let body = view::image(&image);
    g.image.insert(image);
    Ok(json(StatusCode::OK, body))
}
