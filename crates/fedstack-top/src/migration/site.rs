//! Site calls of the workflow, with their failures sorted into retryable or not.

use crate::compute::with_mv;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_jobs::{JobContext, StepError};
use fedstack_site_client::{Scope, SiteError, SiteRequest, SiteResponse};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The microversion of the workflow's Nova calls (tags and `image_id` answers).
pub const MV: Microversion = Microversion::new(2, 96);
/// How often a wait polls its site.
const POLL: Duration = Duration::from_millis(250);
/// Longest wait for a server or image to reach a state.
const WAIT: Duration = Duration::from_secs(600);

/// A wait for something on a site to reach a state: a deadline of [`WAIT`], a cancel check
/// and a pause between polls.
pub struct StepWait<'a> {
    site: &'a SiteHandle,
    what: String,
    target: &'a str,
    deadline: tokio::time::Instant,
}

impl<'a> StepWait<'a> {
    pub fn new(site: &'a SiteHandle, what: String, target: &'a str) -> StepWait<'a> {
        StepWait {
            site,
            what,
            target,
            deadline: tokio::time::Instant::now() + WAIT,
        }
    }

    /// One more poll to come: fails past the deadline (with the state `now` it is in) or on
    /// cancel, else pauses.
    pub async fn tick(&mut self, cx: &mut JobContext, now: &str) -> Result<(), StepError> {
        if tokio::time::Instant::now() > self.deadline {
            return Err(StepError::Transient(format!(
                "{} on site {} is {now}, not {}, after {WAIT:?}",
                self.what,
                self.site.name(),
                self.target
            )));
        }
        cx.check().await?;
        tokio::time::sleep(POLL).await;
        Ok(())
    }
}

/// A failed site call: unreachable, slow or 5xx is worth retrying; a 4xx is not.
pub fn site_failure(site: &SiteHandle, e: SiteError) -> StepError {
    let msg = format!("site {}: {e}", site.name());
    match e {
        SiteError::Http { status, .. } if (400..500).contains(&status) && status != 409 => {
            StepError::Fatal(msg)
        }
        _ => StepError::Transient(msg),
    }
}

/// A store failure: retried (the database may be busy).
pub fn db(e: fedstack_store::StoreError) -> StepError {
    StepError::Transient(format!("the top's database: {e}"))
}

/// A top error (tenancy, flavor, group on a site) as a step failure.
pub fn api_failure(e: ApiError) -> StepError {
    if e.status == StatusCode::SERVICE_UNAVAILABLE || e.status.is_server_error() {
        StepError::Transient(e.message)
    } else {
        StepError::Fatal(e.message)
    }
}

/// The registered site `id`, up.
pub fn up_site(top: &Top, id: &str) -> Result<Arc<SiteHandle>, StepError> {
    let site = top
        .sites
        .get(id)
        .ok_or_else(|| StepError::Fatal(format!("site {id} is no longer registered")))?;
    if !site.is_up() {
        return Err(StepError::Transient(format!(
            "site {} is not available",
            site.name()
        )));
    }
    Ok(site)
}

/// Sends a call; only transport failures are errors.
pub async fn send(site: &SiteHandle, req: SiteRequest) -> Result<SiteResponse, StepError> {
    site.client
        .send(req)
        .await
        .map_err(|e| site_failure(site, e))
}

/// Sends a call that must succeed; its JSON answer.
pub async fn call(site: &SiteHandle, req: SiteRequest) -> Result<Value, StepError> {
    let r = send(site, req).await?;
    r.ok().map(|r| r.json()).map_err(|e| site_failure(site, e))
}

/// Sends a create that must succeed: the ID of what it made (`answer[key]["id"]`).
pub async fn create(site: &SiteHandle, req: SiteRequest, key: &str) -> Result<String, StepError> {
    let answer = call(site, req).await?;
    answer[key]["id"].as_str().map(String::from).ok_or_else(|| {
        StepError::Transient(format!("site {} answered without a {key} ID", site.name()))
    })
}

/// A Nova request at [`MV`].
pub fn nova(method: Method, path: impl Into<String>, scope: Scope) -> SiteRequest {
    with_mv(SiteRequest::new(method, "compute", path, scope), MV)
}

/// The site's server `id` (admin view), `None` when it is gone.
pub async fn server(site: &SiteHandle, id: &str) -> Result<Option<Value>, StepError> {
    let r = send(
        site,
        nova(Method::GET, format!("/servers/{id}"), Scope::Admin),
    )
    .await?;
    if r.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let r = r.ok().map_err(|e| site_failure(site, e))?;
    Ok(Some(r.json()["server"].clone()))
}

/// Runs a server action (`os-stop`, `os-start`, ...); a 409 (already in that state) is fine.
pub async fn action(
    site: &SiteHandle,
    scope: Scope,
    id: &str,
    body: &Value,
) -> Result<SiteResponse, StepError> {
    let r = send(
        site,
        nova(Method::POST, format!("/servers/{id}/action"), scope).json(body),
    )
    .await?;
    if r.status == StatusCode::CONFLICT || r.is_success() {
        return Ok(r);
    }
    r.ok().map_err(|e| site_failure(site, e))
}

/// Waits for the server to reach `status` (ERROR is fatal, with Nova's fault); checks for
/// cancel between polls.
pub async fn wait_server(
    cx: &mut JobContext,
    site: &SiteHandle,
    id: &str,
    status: &str,
) -> Result<Value, StepError> {
    let mut wait = StepWait::new(site, format!("server {id}"), status);
    loop {
        let s = server(site, id).await?.ok_or_else(|| {
            StepError::Fatal(format!("server {id} vanished from site {}", site.name()))
        })?;
        let now = s["status"].as_str().unwrap_or_default();
        let task = s["OS-EXT-STS:task_state"].as_str();
        if now == status && task.is_none() {
            return Ok(s);
        }
        if now == "ERROR" {
            let why = s
                .pointer("/fault/message")
                .and_then(Value::as_str)
                .unwrap_or("no fault given");
            return Err(StepError::Fatal(format!(
                "server {id} went ERROR on site {}: {why}",
                site.name()
            )));
        }
        let now = now.to_string();
        wait.tick(cx, &now).await?;
    }
}

/// Deletes a server and waits until the site no longer has it (gone already is fine).
pub async fn delete_server(
    cx: &mut JobContext,
    site: &SiteHandle,
    id: &str,
) -> Result<(), StepError> {
    let r = send(
        site,
        nova(Method::DELETE, format!("/servers/{id}"), Scope::Admin),
    )
    .await?;
    if r.status != StatusCode::NOT_FOUND {
        r.ok().map_err(|e| site_failure(site, e))?;
    }
    let mut wait = StepWait::new(site, format!("server {id}"), "deleted");
    while server(site, id).await?.is_some() {
        wait.tick(cx, "still there").await?;
    }
    Ok(())
}

/// The site's image `id` (admin view), `None` when it is gone.
pub async fn image(site: &SiteHandle, id: &str) -> Result<Option<Value>, StepError> {
    let r = send(
        site,
        SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images/{id}"),
            Scope::Admin,
        ),
    )
    .await?;
    if r.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    r.ok()
        .map(|r| Some(r.json()))
        .map_err(|e| site_failure(site, e))
}

/// Waits for an image to be active: its document.
pub async fn wait_image(
    cx: &mut JobContext,
    site: &SiteHandle,
    id: &str,
) -> Result<Value, StepError> {
    let mut wait = StepWait::new(site, format!("image {id}"), "active");
    loop {
        let img = image(site, id).await?.ok_or_else(|| {
            StepError::Fatal(format!("image {id} vanished from site {}", site.name()))
        })?;
        match img["status"].as_str().unwrap_or_default() {
            "active" => return Ok(img),
            "killed" | "deleted" | "pending_delete" => {
                return Err(StepError::Fatal(format!(
                    "image {id} on site {} is {}",
                    site.name(),
                    img["status"]
                )))
            }
            now => {
                let now = now.to_string();
                wait.tick(cx, &now).await?
            }
        }
    }
}

/// The ID of the image named `name` that `scope` sees on the site, if any.
pub async fn image_named(
    site: &SiteHandle,
    scope: &Scope,
    name: &str,
) -> Result<Option<String>, StepError> {
    let list = call(
        site,
        SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images?name={name}"),
            scope.clone(),
        ),
    )
    .await?;
    Ok(list["images"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(|i| i["id"].as_str())
        .map(String::from))
}

/// Deletes an image (gone already is fine).
pub async fn delete_image(site: &SiteHandle, id: &str) -> Result<(), StepError> {
    let r = send(
        site,
        SiteRequest::new(
            Method::DELETE,
            "image",
            format!("/v2/images/{id}"),
            Scope::Admin,
        ),
    )
    .await?;
    if r.status == StatusCode::NOT_FOUND {
        return Ok(());
    }
    r.ok().map(drop).map_err(|e| site_failure(site, e))
}

/// The site project of a top project on `site` (created on first use).
pub async fn project(top: &Top, site: &SiteHandle, project_id: &str) -> Result<String, StepError> {
    crate::tenancy::site_project(top, site, project_id, Service::Compute)
        .await
        .map_err(api_failure)
}
