//! The caller of a Glance request at the top and the images it may see or change.

use super::record::TopImage;
use crate::auth::Caller;
use crate::Top;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use fedstack_api_types::glance::respond::{err, no_image, not_authorized, UNAUTHORIZED};
use fedstack_api_types::glance::Actor;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::StoreError;
use std::sync::Arc;

/// A store failure, in `service`'s envelope.
pub fn store_error(service: Service) -> impl Fn(StoreError) -> ApiError {
    move |e| ApiError::new(service, StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A store failure of a Glance request.
pub fn glance_store_error(e: StoreError) -> ApiError {
    store_error(Service::Image)(e)
}

/// The authenticated caller of a Glance request (a 401 worded as Glance's).
pub struct Glance(pub Caller);

impl FromRequestParts<Arc<Top>> for Glance {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, top: &Arc<Top>) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, top).await {
            Ok(c) => Ok(Glance(c)),
            Err(mut e) if e.status == StatusCode::UNAUTHORIZED => {
                e.message = UNAUTHORIZED.into();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Glance {
    /// The top the request came to.
    pub fn top(&self) -> &Arc<Top> {
        &self.0.top
    }

    /// The caller as Glance's policy sees it.
    pub fn actor(&self) -> Actor<'_> {
        Actor {
            project_id: self.0.project_id(),
            is_admin: self.0.is_admin(),
            is_member: self.0.claims.has_role("member"),
        }
    }

    /// The image `id` if visible to the caller (and on its image scope's sites), else
    /// Glance's 404.
    pub async fn image(&self, id: &str) -> Result<TopImage, ApiError> {
        let row = self
            .top()
            .store
            .image(id)
            .await
            .map_err(glance_store_error)?;
        let image = row
            .map(|r| TopImage::from_row(&r))
            .filter(|i| i.visible_to(self.0.project_id(), self.0.is_admin()))
            .ok_or_else(|| no_image(id))?;
        if !crate::scope::image::visible(&self.0, id).await? {
            return Err(no_image(id));
        }
        Ok(image)
    }

    /// The image `id` for a change guarded by `action` (`modify_image`, `delete_image`,
    /// ...): 404 when invisible, 403 when visible but not the caller's to change.
    pub async fn image_to_change(&self, id: &str, action: &str) -> Result<TopImage, ApiError> {
        let image = self.image(id).await?;
        if self.actor().may_modify(&image.record.attrs.owner) {
            Ok(image)
        } else {
            Err(not_authorized(action))
        }
    }

    /// The lock serialising changes of image `id` in this node.
    pub fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        image_lock(self.top(), id)
    }
}

/// The lock serialising changes of an image's record in this node.
pub fn image_lock(top: &Top, id: &str) -> Arc<tokio::sync::Mutex<()>> {
    top.lock_for(&format!("image/{id}"))
}

/// A server error of the top's own (its disk, its database), never a client's mistake.
pub fn internal(msg: impl Into<String>) -> ApiError {
    err(StatusCode::INTERNAL_SERVER_ERROR, msg)
}
