//! `GET /v2/images`, answered from the index with Glance's filters, sorting and paging (only
//! the images on the sites of the caller's image scope, when scoped).

use super::access::{glance_store_error, Glance};
use super::record::TopImage;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use fedstack_api_types::glance::list::{marker_error, ListQuery};
use fedstack_api_types::glance::respond::json;
use fedstack_api_types::glance::ImageRecord;
use fedstack_api_types::ApiError;

/// `GET /v2/images`.
pub async fn list(
    g: Glance,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = ListQuery::parse(query.map(|Query(q)| q).unwrap_or_default())?;
    let (project, admin) = (g.0.project_id(), g.0.is_admin());
    let store = &g.top().store;
    let scope = (!admin).then_some(project);
    let rows = store
        .visible_images(scope, None, i64::MAX)
        .await
        .map_err(glance_store_error)?;
    let in_scope = crate::scope::image::visible_ids(&g.0).await?;
    let found: Vec<ImageRecord> = rows
        .iter()
        .filter(|r| in_scope.as_ref().is_none_or(|ids| ids.contains(&r.id)))
        .map(|r| TopImage::from_row(r).record)
        .filter(|r| q.includes(r, project, admin, None))
        .collect();
    let marker = match &q.marker {
        None => None,
        Some(m) => {
            let image = store
                .image(m)
                .await
                .map_err(glance_store_error)?
                .map(|r| TopImage::from_row(&r))
                .ok_or_else(|| marker_error(m, false))?;
            if !image.visible_to(project, admin) {
                return Err(marker_error(m, true));
            }
            Some(image.record)
        }
    };
    Ok(json(StatusCode::OK, q.page(found, marker.as_ref())))
}
