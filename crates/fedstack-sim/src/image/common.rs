//! What every Glance handler shares: the caller, its permissions, Glance's errors and
//! response shapes.

use super::{Image, ImageData};
use crate::ctx::Ctx;
use crate::site::Site;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use fedstack_api_types::glance::respond::{self, UNAUTHORIZED};
pub use fedstack_api_types::glance::respond::{
    bad_request, conflict, err, forbidden, json, media_type, no_content, no_image, not_authorized,
    resource_not_found, unsupported_media_type,
};
use fedstack_api_types::glance::Actor;
use fedstack_api_types::ApiError;
use std::ops::Deref;
use std::sync::Arc;

/// A handler's result.
pub type Res = Result<Response, ApiError>;

/// The authenticated caller of a Glance request.
pub struct Caller(pub Ctx);

impl Deref for Caller {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.0
    }
}

impl FromRequestParts<Arc<Site>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, site: &Arc<Site>) -> Result<Self, ApiError> {
        match Ctx::from_request_parts(parts, site).await {
            Ok(ctx) => Ok(Caller(ctx)),
            Err(mut e) if e.status == StatusCode::UNAUTHORIZED => {
                e.message = UNAUTHORIZED.into();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Caller {
    /// The caller as Glance's policy sees it.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            project_id: self.project_id(),
            is_admin: self.is_admin(),
            is_member: self.has_role("member"),
        }
    }

    /// Glance's `ADMIN_OR_PROJECT_MEMBER` rule on an image: admin, or a member of its owner.
    pub fn may_modify(&self, image: &Image) -> bool {
        self.actor().may_modify(&image.owner)
    }

    /// The image `id` if visible to the caller, else Glance's 404.
    pub fn image<'a>(&self, data: &'a ImageData, id: &str) -> Result<&'a Image, ApiError> {
        data.visible(self.project_id(), self.is_admin(), id)
            .ok_or_else(|| no_image(id))
    }

    /// The image `id` for a change guarded by `action` (`modify_image`, `delete_image`, ...):
    /// 404 when invisible, 403 when visible but not the caller's to change.
    pub fn image_mut<'a>(
        &self,
        data: &'a mut ImageData,
        id: &str,
        action: &str,
    ) -> Result<&'a mut Image, ApiError> {
        let allowed = self.may_modify(self.image(data, id)?);
        if !allowed {
            return Err(not_authorized(action));
        }
        data.images.get_mut(id).ok_or_else(|| no_image(id))
    }
}

/// webob's 405 for a method a Glance route does not take (after authentication, as Glance).
pub async fn method_not_allowed(_: Caller, method: Method) -> Response {
    respond::method_not_allowed(&method)
}
