//! `GET /v2/images`: Glance's filters, sorting, markers and `first`/`next` links.

use super::common::{json, Caller, Res};
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::StatusCode;
use chrono::Utc;
use fedstack_api_types::glance::list::{marker_error, ListQuery};
use fedstack_api_types::glance::ImageRecord;

/// `GET /v2/images`.
pub async fn list(
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Res {
    let q = ListQuery::parse(query.map(|Query(q)| q).unwrap_or_default())?;
    let now = Utc::now();
    let mut g = caller.site.data.lock();
    for i in g.image.images.values_mut() {
        i.settle(now);
    }
    let data = &g.image;
    let (project, admin) = (caller.project_id(), caller.is_admin());
    let found: Vec<ImageRecord> = data
        .images
        .values()
        .map(|i| (i.record(), i.membership(project)))
        .filter(|(r, member)| q.includes(r, project, admin, *member))
        .map(|(r, _)| r)
        .collect();
    let marker = match &q.marker {
        None => None,
        Some(m) => match data.images.get(m) {
            None => return Err(marker_error(m, false)),
            Some(i) if !admin && !i.visible_to(project) => return Err(marker_error(m, true)),
            Some(i) => Some(i.record()),
        },
    };
    Ok(json(StatusCode::OK, q.page(found, marker.as_ref())))
}
