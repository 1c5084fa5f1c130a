//! The durable job engine of fedstack.
//!
//! A job is persisted before it starts, with a kind, the resource it works on, its
//! parameters, a state, a cursor over typed steps, attempts, bytes moved, an event history
//! and a lease (owner + expiry). A [`Runner`] claims due jobs, renews their leases while it
//! runs them, and runs the steps of their [`Workflow`] forward; a failed step is retried with
//! backoff when retrying can help, otherwise the finished steps are undone in reverse. A
//! cancel stops the running step at its next check and rolls the job back. One job is active
//! per resource, and an idempotency key returns the job it already created.
//!
//! Its tables (`jobs`, `job_events`) are made by the store's one migration set
//! (`fedstack-store/migrations/0004_jobs.sql`); [`JobStore`] works on that pool through sqlx
//! `Any`, on SQLite and PostgreSQL alike.
//!
//! The engine knows nothing of sites or OpenStack: workflows (cold migration, image
//! replication) live with the code that can reach sites (`fedstack-top`) and register here.

pub mod metrics;
pub mod model;
pub mod runner;
pub mod store;
pub mod workflow;

#[cfg(test)]
mod tests;

pub use model::{Event, Job, JobFilter, JobState, NewJob, Step};
pub use runner::{CancelOutcome, JobError, Runner, RunnerConfig};
pub use store::{Created, JobStore, StoreError};
pub use workflow::{point_of_no_return, JobContext, StepError, Workflow};
