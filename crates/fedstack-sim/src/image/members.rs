//! Image members: sharing a `shared` image with other projects, who accept or reject it.

use super::common::{
    bad_request, conflict, err, forbidden, json, no_content, not_authorized, Caller, Res,
};
use super::model::{Image, Member, MemberStatus, Visibility};
use super::{view, ImageData};
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::Utc;
use fedstack_api_types::glance::respond::json_body;
use fedstack_api_types::ApiError;
use serde_json::{json, Value};

/// The image for a members call: 404 in the members controller's words when invisible.
fn lookup<'a>(caller: &Caller, data: &'a ImageData, id: &str) -> Result<&'a Image, ApiError> {
    caller
        .image(data, id)
        .map_err(|_| err(StatusCode::NOT_FOUND, format!("Image {id} not found.")))
}

/// Whether the caller may see `member_id`'s membership (admin, owner, or that member).
fn sees_member(caller: &Caller, image: &Image, member_id: &str) -> bool {
    caller.is_admin() || caller.project_id() == image.owner || caller.project_id() == member_id
}

/// The membership record, if the caller may see it.
fn member<'a>(caller: &Caller, image: &'a Image, member_id: &str) -> Result<&'a Member, ApiError> {
    image
        .members
        .get(member_id)
        .filter(|_| sees_member(caller, image, member_id))
        .ok_or_else(|| {
            err(
                StatusCode::NOT_FOUND,
                format!(
                    "{member_id} not found in the member list of the image {}.",
                    image.id
                ),
            )
        })
}

/// `add_member`/`delete_member`: admin or a member of the owning project.
fn owner_side(caller: &Caller, image: &Image, action: &str) -> Result<(), ApiError> {
    if caller.may_modify(image) {
        Ok(())
    } else {
        Err(not_authorized(action))
    }
}

/// `POST /v2/images/{id}/members` with `{"member": "<project>"}`.
pub async fn create(caller: Caller, Path(id): Path<String>, body: Body) -> Res {
    let member_id = match json_body(body).await? {
        Value::Object(o) => match o.get("member") {
            None => return Err(bad_request("Member to be added not specified")),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Null | Value::Bool(false)) | Some(Value::String(_)) => {
                return Err(bad_request("Member can't be empty"));
            }
            Some(other) => other.to_string(),
        },
        _ => {
            return Err(bad_request(
                "Expected a member in the form: {\"member\": \"image_id\"}",
            ));
        }
    };
    let mut g = caller.site.data.lock();
    let image = lookup(&caller, &g.image, &id)?;
    if image.visibility != Visibility::Shared {
        return Err(forbidden(format!(
            "Not allowed to create members for image {id}."
        )));
    }
    owner_side(&caller, image, "add_member")?;
    if image.members.contains_key(&member_id) {
        return Err(conflict(format!(
            "Member {member_id} is duplicated for image {id}"
        )));
    }
    let now = Utc::now();
    let m = Member {
        status: MemberStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    let body = view::member(&id, &member_id, &m);
    if let Some(image) = g.image.images.get_mut(&id) {
        image.members.insert(member_id, m);
    }
    Ok(json(StatusCode::OK, body))
}

/// `GET /v2/images/{id}/members`: all of them for the owner, the caller's own for a member.
pub async fn list(caller: Caller, Path(id): Path<String>) -> Res {
    let g = caller.site.data.lock();
    let image = lookup(&caller, &g.image, &id)?;
    if image.visibility != Visibility::Shared {
        return Err(forbidden(format!(
            "Not allowed to list members for image {id}: Only shared images have members."
        )));
    }
    let members: Vec<Value> = image
        .members
        .iter()
        .filter(|(mid, _)| sees_member(&caller, image, mid))
        .map(|(mid, m)| view::member(&id, mid, m))
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({"members": members, "schema": "/v2/schemas/members"}),
    ))
}

/// `GET /v2/images/{id}/members/{member}`.
pub async fn show(caller: Caller, Path((id, member_id)): Path<(String, String)>) -> Res {
    let g = caller.site.data.lock();
    let image = lookup(&caller, &g.image, &id)?;
    if image.visibility != Visibility::Shared {
        return Err(err(
            StatusCode::NOT_FOUND,
            "Only shared images have members.",
        ));
    }
    let m = member(&caller, image, &member_id)?;
    Ok(json(StatusCode::OK, view::member(&id, &member_id, m)))
}

/// `PUT /v2/images/{id}/members/{member}` with `{"status": "accepted"}`: only the member
/// itself (or an admin) answers.
pub async fn update(
    caller: Caller,
    Path((id, member_id)): Path<(String, String)>,
    body: Body,
) -> Res {
    let status = match json_body(body).await? {
        Value::Object(o) => o
            .get("status")
            .cloned()
            .ok_or_else(|| bad_request("Status not specified"))?,
        _ => {
            return Err(bad_request(
                "Expected a status in the form: {\"status\": \"status\"}",
            ));
        }
    };
    let mut g = caller.site.data.lock();
    let image = lookup(&caller, &g.image, &id)?;
    if image.visibility != Visibility::Shared {
        return Err(forbidden(format!(
            "Not allowed to update members for image {id}."
        )));
    }
    member(&caller, image, &member_id)?;
    let is_that_member = caller.has_role("member") && caller.project_id() == member_id;
    if !caller.is_admin() && !is_that_member {
        return Err(not_authorized("modify_member"));
    }
    let status = status
        .as_str()
        .and_then(MemberStatus::parse)
        .ok_or_else(|| {
            bad_request(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".",
            )
        })?;
    let m = g
        .image
        .images
        .get_mut(&id)
        .and_then(|i| i.members.get_mut(&member_id))
        .ok_or_else(|| err(StatusCode::NOT_FOUND, format!("Image {id} not found.")))?;
    m.status = status;
    m.updated_at = Utc::now();
    Ok(json(StatusCode::OK, view::member(&id, &member_id, m)))
}

/// `DELETE /v2/images/{id}/members/{member}`.
pub async fn delete(caller: Caller, Path((id, member_id)): Path<(String, String)>) -> Res {
    let mut g = caller.site.data.lock();
    let image = lookup(&caller, &g.image, &id)?;
    if image.visibility != Visibility::Shared {
        return Err(forbidden(format!(
            "Not allowed to delete members for image {id}."
        )));
    }
    member(&caller, image, &member_id)?;
    owner_side(&caller, image, "delete_member")?;
    if let Some(image) = g.image.images.get_mut(&id) {
        image.members.shift_remove(&member_id);
    }
    Ok(no_content())
}
