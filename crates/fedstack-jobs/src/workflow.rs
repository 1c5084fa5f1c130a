//! The contract between the engine and a workflow: typed steps, each run and undone through
//! a [`JobContext`] that persists what the step made before it goes on.

use crate::model::{Job, Step};
use crate::store::{JobStore, StoreError};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a step did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Worth retrying (a site unreachable or busy): retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help: the job rolls back (or fails, past the point of no return).
    #[error("{0}")]
    Fatal(String),
    /// A cancel was requested: the job rolls back.
    #[error("cancelled by request")]
    Cancelled,
    /// This node no longer holds the job's lease: it stops touching the job.
    #[error("the job's lease was lost")]
    LeaseLost,
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Transient(e.to_string())
    }
}

/// A kind of job: its steps, and how to run and undo each. Both must be idempotent: a step
/// re-run after a crash finds what an earlier run made (by the IDs it recorded with
/// [`JobContext::put`], or by name) instead of making it twice; an undo of a step that made
/// nothing does nothing.
pub trait Workflow: Send + Sync + 'static {
    /// The job kind this workflow runs (`Job::kind`).
    fn kind(&self) -> &'static str;
    /// The steps, in order.
    fn steps(&self) -> &'static [Step];
    /// Runs `step`.
    fn run<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>>;
    /// Undoes `step` (finished, partly done or never started).
    fn undo<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>>;
}

/// The index of the first irreversible step (`steps.len()` when none is).
pub fn point_of_no_return(steps: &[Step]) -> usize {
    steps
        .iter()
        .position(|s| s.irreversible)
        .unwrap_or(steps.len())
}

/// How often a running step reads the cancel flag at most, when it reports progress.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// What a step sees of its job, and how it records what it did.
pub struct JobContext {
    job: Job,
    store: JobStore,
    owner: String,
    lease_lost: Arc<AtomicBool>,
    cancellable: bool,
    last_poll: Instant,
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        store: JobStore,
        owner: String,
        lease_lost: Arc<AtomicBool>,
    ) -> JobContext {
        JobContext {
            job,
            store,
            owner,
            lease_lost,
            cancellable: true,
            last_poll: Instant::now(),
        }
    }

    /// Whether a requested cancel stops the step (not while rolling back, nor past the
    /// point of no return).
    pub(crate) fn set_cancellable(&mut self, on: bool) {
        self.cancellable = on;
    }

    /// The job's ID.
    pub fn id(&self) -> &str {
        &self.job.id
    }

    /// The job as it was when this run claimed it (with the data recorded since).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// What the job was asked to do.
    pub fn params(&self) -> &Value {
        &self.job.params
    }

    /// A value recorded by an earlier step or run.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.job
            .data
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// All the recorded data.
    pub fn data(&self) -> &Map<String, Value> {
        &self.job.data
    }

    /// Records `value` under `key`, durably, before returning.
    pub async fn put(&mut self, key: &str, value: impl Serialize) -> Result<(), StepError> {
        let v = serde_json::to_value(value).map_err(|e| StepError::Fatal(e.to_string()))?;
        self.job.data.insert(key.to_string(), v);
        if !self
            .store
            .set_data(&self.job.id, &self.owner, &self.job.data)
            .await?
        {
            self.lease_lost.store(true, Ordering::SeqCst);
            return Err(StepError::LeaseLost);
        }
        Ok(())
    }

    /// Forgets `key`, durably.
    pub async fn remove(&mut self, key: &str) -> Result<(), StepError> {
        if self.job.data.remove(key).is_some()
            && !self
                .store
                .set_data(&self.job.id, &self.owner, &self.job.data)
                .await?
        {
            self.lease_lost.store(true, Ordering::SeqCst);
            return Err(StepError::LeaseLost);
        }
        Ok(())
    }

    /// Adds an `info` event to the job's history.
    pub async fn note(&self, step: &str, message: &str) {
        if let Err(e) = self
            .store
            .event(&self.job.id, Some(step), "info", message)
            .await
        {
            tracing::warn!(job = %self.job.id, error = %e, "job event not recorded");
        }
    }

    /// Records bytes moved so far; fails with [`StepError::Cancelled`] when a cancel was
    /// requested (read at most every 200 ms) and [`StepError::LeaseLost`] when this node lost
    /// the job.
    pub async fn progress(&mut self, done: u64, total: u64) -> Result<(), StepError> {
        self.job.bytes_done = i64::try_from(done).unwrap_or(i64::MAX);
        self.job.bytes_total = i64::try_from(total).unwrap_or(i64::MAX);
        if self.last_poll.elapsed() < CANCEL_POLL && done < total {
            return self.check_lease();
        }
        self.last_poll = Instant::now();
        match self
            .store
            .set_bytes(
                &self.job.id,
                &self.owner,
                self.job.bytes_done,
                self.job.bytes_total,
            )
            .await?
        {
            None => {
                self.lease_lost.store(true, Ordering::SeqCst);
                Err(StepError::LeaseLost)
            }
            Some(true) if self.cancellable => Err(StepError::Cancelled),
            Some(_) => Ok(()),
        }
    }

    /// Fails with [`StepError::Cancelled`] when a cancel was requested (not while rolling
    /// back) and [`StepError::LeaseLost`] when this node lost the job. Long steps call it
    /// between their site calls.
    pub async fn check(&mut self) -> Result<(), StepError> {
        self.check_lease()?;
        if self.cancellable && self.store.cancel_requested(&self.job.id).await? {
            return Err(StepError::Cancelled);
        }
        self.last_poll = Instant::now();
        Ok(())
    }

    fn check_lease(&self) -> Result<(), StepError> {
        if self.lease_lost.load(Ordering::SeqCst) {
            Err(StepError::LeaseLost)
        } else {
            Ok(())
        }
    }
}
