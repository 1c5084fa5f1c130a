//! Image replication on the job engine: the copy of a top image to a site is a job of kind
//! `image-copy` (one active per image and site), so that it is claimed with a lease by one
//! node, retried with backoff, and resumed by any node after a crash. Its one step runs
//! [`copy::copy_now`], which re-runs safely: it finds what an earlier attempt left on the
//! site. The `image_copies` row stays the record of the copy's state.

use super::copy::{self, CopyError};
use crate::Top;
use fedstack_jobs::{Created, JobContext, JobError, NewJob, Step, StepError, Workflow};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};

/// The job kind of an image copy.
pub const KIND: &str = "image-copy";

const STEPS: &[Step] = &[Step::reversible("copy")];

/// What an image-copy job copies where.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Params {
    image_id: String,
    site_id: String,
}

/// The image-copy workflow of a top node.
pub struct Replication {
    top: Weak<Top>,
}

impl Replication {
    pub fn new(top: Weak<Top>) -> Replication {
        Replication { top }
    }

    async fn copy(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let top = self
            .top
            .upgrade()
            .ok_or_else(|| StepError::Transient("the top node is stopping".into()))?;
        let p: Params = serde_json::from_value(cx.params().clone())
            .map_err(|e| StepError::Fatal(format!("bad image-copy parameters: {e}")))?;
        let site = top.sites.get(&p.site_id).ok_or_else(|| {
            StepError::Fatal(format!("site {} is no longer registered", p.site_id))
        })?;
        if !site.is_up() {
            return Err(StepError::Transient(format!(
                "site {} is not available",
                site.name()
            )));
        }
        match copy::copy_now(&top, &p.image_id, &site).await {
            Ok(_) | Err(CopyError::Gone(_)) => Ok(()),
            Err(e @ CopyError::NoData(_)) => Err(StepError::Fatal(e.to_string())),
            Err(e) => Err(StepError::Transient(e.to_string())),
        }
    }
}

impl Workflow for Replication {
    fn kind(&self) -> &'static str {
        KIND
    }
    fn steps(&self) -> &'static [Step] {
        STEPS
    }
    fn run<'a>(
        &'a self,
        _step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        self.copy(cx).boxed()
    }
    /// A failed copy stays `failed` in `image_copies`; the next attempt, or a boot on the
    /// site, takes over what the site holds.
    fn undo<'a>(
        &'a self,
        _step: &'static str,
        _cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        async { Ok(()) }.boxed()
    }
}

/// Submits the copy of `image_id` to `site_id` (nothing when one is already active) and
/// starts it at once if this node has room.
pub async fn submit(top: &Arc<Top>, image_id: &str, site_id: &str) -> Result<(), JobError> {
    let new = NewJob {
        kind: KIND.into(),
        resource: format!("image-copy/{image_id}/{site_id}"),
        idempotency_key: None,
        project_id: String::new(),
        params: serde_json::json!({"image_id": image_id, "site_id": site_id}),
    };
    if let Created::New(_) = top.jobs.submit(&new).await? {
        top.jobs.round().await?;
    }
    Ok(())
}
