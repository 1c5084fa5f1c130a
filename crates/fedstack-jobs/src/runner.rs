//! The runner: claims due jobs with a lease, keeps the lease alive while it runs them, runs
//! their steps forward, retries failed steps with backoff, rolls back in reverse, and leaves
//! a job to any node (itself included) once its lease lapses after a crash.

use crate::model::{Job, JobState, NewJob, Step};
use crate::store::{now_ms, Created, JobStore, StoreError};
use crate::workflow::{point_of_no_return, JobContext, StepError, Workflow};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How a runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// How long a claim holds without renewal; a crashed node's jobs resume after it.
    pub lease: Duration,
    /// How often the runner looks for due jobs (it is also woken on submit and cancel).
    pub poll: Duration,
    /// Failed attempts of a reversible step after which the job rolls back.
    pub max_attempts: i64,
    /// Wait after the first failure; doubled after each one.
    pub backoff_base: Duration,
    /// Longest wait between two attempts.
    pub backoff_max: Duration,
    /// Jobs run at once by this node.
    pub parallel: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            parallel: 8,
        }
    }
}

impl RunnerConfig {
    /// Milliseconds to wait after the `attempts`-th failure.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let exp = u32::try_from(attempts.clamp(1, 30) - 1).unwrap_or(0);
        let base = i64::try_from(self.backoff_base.as_millis()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.backoff_max.as_millis()).unwrap_or(i64::MAX);
        base.saturating_mul(1i64 << exp).min(max)
    }
}

/// Why a job could not be submitted or cancelled.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no workflow runs jobs of kind {0}")]
    UnknownKind(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The running step stops at its next check and the job rolls back.
    Requested(Job),
    /// The job already ended, or passed its point of no return.
    TooLate(Job),
    NotFound,
}

/// Runs the jobs of the registered workflows.
pub struct Runner {
    store: JobStore,
    owner: String,
    config: RunnerConfig,
    workflows: HashMap<&'static str, Arc<dyn Workflow>>,
    wake: Notify,
    slots: Arc<Semaphore>,
    running: Mutex<HashSet<String>>,
}

impl Runner {
    /// A runner over `store`, with a fresh owner name for its leases.
    pub fn new(store: JobStore, config: RunnerConfig) -> Runner {
        let owner = format!(
            "node-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        Runner {
            store,
            owner,
            slots: Arc::new(Semaphore::new(config.parallel.max(1))),
            config,
            workflows: HashMap::new(),
            wake: Notify::new(),
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Adds a workflow (before the runner starts).
    pub fn register(&mut self, w: Arc<dyn Workflow>) {
        self.workflows.insert(w.kind(), w);
    }

    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// The steps of a job kind.
    pub fn steps(&self, kind: &str) -> Option<&'static [Step]> {
        self.workflows.get(kind).map(|w| w.steps())
    }

    /// Persists a job (or finds the one it duplicates) and wakes the runner.
    pub async fn submit(&self, new: &NewJob) -> Result<Created, JobError> {
        if !self.workflows.contains_key(new.kind.as_str()) {
            return Err(JobError::UnknownKind(new.kind.clone()));
        }
        let created = self.store.create(new).await?;
        self.wake.notify_one();
        Ok(created)
    }

    /// Asks a job to stop and roll back.
    pub async fn cancel(&self, id: &str) -> Result<CancelOutcome, JobError> {
        let Some(job) = self.store.get(id).await? else {
            return Ok(CancelOutcome::NotFound);
        };
        let steps = self
            .steps(&job.kind)
            .ok_or_else(|| JobError::UnknownKind(job.kind.clone()))?;
        let ponr = i64::try_from(point_of_no_return(steps)).unwrap_or(i64::MAX);
        let marked = self.store.request_cancel(id, ponr).await?;
        let job = self.store.get(id).await?.unwrap_or(job);
        if !marked {
            return Ok(CancelOutcome::TooLate(job));
        }
        self.store
            .event(id, None, "cancel_requested", "cancel requested")
            .await?;
        self.wake.notify_one();
        Ok(CancelOutcome::Requested(job))
    }

    /// Completion of a job in percent.
    pub fn progress(&self, job: &Job) -> f64 {
        let n = self.steps(&job.kind).map_or(1, <[Step]>::len).max(1) as f64;
        match job.state {
            JobState::Done => 100.0,
            JobState::Queued => 0.0,
            _ => {
                let done = job.cursor.clamp(0, n as i64) as f64;
                let within = if job.bytes_total > 0 && job.bytes_done < job.bytes_total {
                    job.bytes_done as f64 / job.bytes_total as f64
                } else {
                    0.0
                };
                ((done + within) / n * 100.0).min(100.0)
            }
        }
    }

    /// Runs forever: claims due jobs every poll interval, or at once when woken.
    pub async fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "job runner round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Claims and starts every due job this node has room for.
    pub async fn round(self: &Arc<Self>) -> Result<(), StoreError> {
        for id in self.store.claimable(now_ms()).await? {
            if self.running.lock().map(|r| r.contains(&id)).unwrap_or(true) {
                continue;
            }
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                return Ok(());
            };
            let lease = i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX);
            if !self.store.claim(&id, &self.owner, lease).await? {
                continue;
            }
            let Some(job) = self.store.get(&id).await? else {
                continue;
            };
            if let Ok(mut r) = self.running.lock() {
                r.insert(id.clone());
            }
            let me = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                me.drive(job).await;
                if let Ok(mut r) = me.running.lock() {
                    r.remove(&id);
                }
                me.wake.notify_one();
            });
        }
        Ok(())
    }

    /// Runs a claimed job while renewing its lease.
    async fn drive(self: &Arc<Self>, job: Job) {
        let id = job.id.clone();
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            self.store.clone(),
            id.clone(),
            self.owner.clone(),
            self.config.lease,
            lost.clone(),
        ));
        let result = self.execute(job, lost).await;
        renewal.abort();
        if let Err(e) = result {
            tracing::warn!(job = %id, error = %e, "job stopped; it resumes once its lease lapses");
        }
    }

    async fn event(&self, id: &str, step: Option<&str>, kind: &str, message: &str) {
        if let Err(e) = self.store.event(id, step, kind, message).await {
            tracing::warn!(job = %id, error = %e, "job event not recorded");
        }
    }

    /// Writes the position; `Err(LeaseLost)` when another node took the job.
    async fn save(&self, p: &Position, run_after: i64, release: bool) -> Result<(), StepError> {
        let ok = self
            .store
            .set_position(
                &p.id,
                &self.owner,
                p.state,
                p.cursor,
                p.attempts,
                p.error.as_deref(),
                run_after,
                release,
            )
            .await?;
        if ok {
            Ok(())
        } else {
            Err(StepError::LeaseLost)
        }
    }

    /// The step loop of one claim: returns when the job ends, waits for a retry, or is lost.
    async fn execute(&self, job: Job, lost: Arc<AtomicBool>) -> Result<(), StepError> {
        let Some(wf) = self.workflows.get(job.kind.as_str()).cloned() else {
            let p = Position {
                id: job.id.clone(),
                state: JobState::Failed,
                cursor: job.cursor,
                attempts: job.attempts,
                error: Some(format!("no workflow runs jobs of kind {}", job.kind)),
            };
            return self.save(&p, 0, true).await;
        };
        let steps = wf.steps();
        let ponr = i64::try_from(point_of_no_return(steps)).unwrap_or(i64::MAX);
        let mut p = Position {
            id: job.id.clone(),
            state: job.state,
            cursor: job.cursor,
            attempts: job.attempts,
            error: job.error.clone(),
        };
        if p.state == JobState::Queued {
            p.state = JobState::Running;
            self.save(&p, 0, false).await?;
            self.event(
                &p.id,
                None,
                "started",
                &format!("claimed by {}", self.owner),
            )
            .await;
        } else {
            let at = usize::try_from(p.cursor)
                .ok()
                .and_then(|c| steps.get(c))
                .map_or("-", |s| s.name);
            self.event(
                &p.id,
                Some(at),
                "resumed",
                &format!(
                    "{} at step {at}, claimed by {}",
                    p.state.as_str(),
                    self.owner
                ),
            )
            .await;
        }
        let mut cx = JobContext::new(job, self.store.clone(), self.owner.clone(), lost);
        loop {
            let Some(i) = usize::try_from(p.cursor).ok().filter(|&c| c < steps.len()) else {
                return self.finish(&mut p).await;
            };
            let step = steps[i];
            if p.state == JobState::Running {
                cx.set_cancellable(p.cursor < ponr);
                if p.cursor < ponr && self.store.cancel_requested(&p.id).await? {
                    self.begin_rollback(&mut p, &mut cx, "cancelled by request")
                        .await?;
                    continue;
                }
                self.event(&p.id, Some(step.name), "step_started", step.name)
                    .await;
                match wf.run(step.name, &mut cx).await {
                    Ok(()) => {
                        p.cursor += 1;
                        p.attempts = 0;
                        self.save(&p, 0, false).await?;
                        self.event(&p.id, Some(step.name), "step_done", step.name)
                            .await;
                    }
                    Err(StepError::LeaseLost) => return Err(StepError::LeaseLost),
                    Err(StepError::Cancelled) if p.cursor < ponr => {
                        self.begin_rollback(&mut p, &mut cx, "cancelled by request")
                            .await?;
                    }
                    Err(StepError::Fatal(m)) if p.cursor < ponr => {
                        self.event(&p.id, Some(step.name), "failed", &m).await;
                        self.begin_rollback(&mut p, &mut cx, &m).await?;
                    }
                    Err(StepError::Fatal(m)) => {
                        p.state = JobState::Failed;
                        p.error = Some(format!("{}: {m}", step.name));
                        self.event(&p.id, Some(step.name), "failed", &m).await;
                        return self.finish(&mut p).await;
                    }
                    Err(e) => {
                        p.attempts += 1;
                        let m = e.to_string();
                        if p.cursor < ponr && p.attempts >= self.config.max_attempts {
                            self.event(
                                &p.id,
                                Some(step.name),
                                "failed",
                                &format!("{m} (after {} attempts)", p.attempts),
                            )
                            .await;
                            self.begin_rollback(&mut p, &mut cx, &m).await?;
                        } else {
                            return self.retry_later(&mut p, step, &m).await;
                        }
                    }
                }
            } else {
                cx.set_cancellable(false);
                self.event(&p.id, Some(step.name), "undo_started", step.name)
                    .await;
                match wf.undo(step.name, &mut cx).await {
                    Ok(()) => {
                        p.cursor -= 1;
                        p.attempts = 0;
                        self.save(&p, 0, false).await?;
                        self.event(&p.id, Some(step.name), "undone", step.name)
                            .await;
                    }
                    Err(StepError::LeaseLost) => return Err(StepError::LeaseLost),
                    Err(e) => {
                        p.attempts += 1;
                        return self.retry_later(&mut p, step, &e.to_string()).await;
                    }
                }
            }
        }
    }

    /// Turns the job around: the current step and every finished one are undone in reverse.
    async fn begin_rollback(
        &self,
        p: &mut Position,
        cx: &mut JobContext,
        why: &str,
    ) -> Result<(), StepError> {
        p.state = JobState::RollingBack;
        p.attempts = 0;
        p.error = Some(why.to_string());
        cx.set_cancellable(false);
        self.save(p, 0, false).await?;
        self.event(&p.id, None, "rolling_back", why).await;
        Ok(())
    }

    /// Leaves the job for a later claim, after a backoff.
    async fn retry_later(&self, p: &mut Position, step: Step, why: &str) -> Result<(), StepError> {
        let wait = self.config.backoff_ms(p.attempts);
        self.save(p, now_ms() + wait, true).await?;
        self.event(
            &p.id,
            Some(step.name),
            "retry",
            &format!("{why}; attempt {} failed, next in {} ms", p.attempts, wait),
        )
        .await;
        Ok(())
    }

    /// Records the final state: `done` after the last step, `cancelled` or `rolled_back`
    /// after the last undo.
    async fn finish(&self, p: &mut Position) -> Result<(), StepError> {
        p.state = match p.state {
            JobState::Running => JobState::Done,
            JobState::RollingBack if self.store.cancel_requested(&p.id).await? => {
                JobState::Cancelled
            }
            JobState::RollingBack => JobState::RolledBack,
            other => other,
        };
        if p.state == JobState::Done {
            p.error = None;
        }
        self.save(p, 0, true).await?;
        let msg = match &p.error {
            Some(e) => format!("{}: {e}", p.state.as_str()),
            None => p.state.as_str().to_string(),
        };
        self.event(&p.id, None, "finished", &msg).await;
        tracing::info!(job = %p.id, state = p.state.as_str(), "job finished");
        Ok(())
    }
}

/// Where a job stands, as the runner writes it.
struct Position {
    id: String,
    state: JobState,
    cursor: i64,
    attempts: i64,
    error: Option<String>,
}

/// Renews a lease every third of its length until aborted or lost.
async fn renew(store: JobStore, id: String, owner: String, lease: Duration, lost: Arc<AtomicBool>) {
    let ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew(&id, &owner, ms).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "lease renewal failed"),
        }
    }
}
