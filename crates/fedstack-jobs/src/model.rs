//! What a job is: its record, states and events.

use serde::Serialize;
use serde_json::{Map, Value};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Persisted, not started yet.
    Queued,
    /// Running its steps forward.
    Running,
    /// Undoing its finished steps in reverse (after a failure or a cancel).
    RollingBack,
    /// Every step done.
    Done,
    /// A step failed; what the job made was undone.
    RolledBack,
    /// Cancelled on request; what the job made was undone.
    Cancelled,
    /// A step past the point of no return failed for good: an operator must look.
    Failed,
}

impl JobState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::RollingBack => "rolling_back",
            JobState::Done => "done",
            JobState::RolledBack => "rolled_back",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "rolling_back" => JobState::RollingBack,
            "done" => JobState::Done,
            "rolled_back" => JobState::RolledBack,
            "cancelled" => JobState::Cancelled,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }

    /// True once the job will not run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::RolledBack | JobState::Cancelled | JobState::Failed
        )
    }

    /// Every state, in life order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Running,
        JobState::RollingBack,
        JobState::Done,
        JobState::RolledBack,
        JobState::Cancelled,
        JobState::Failed,
    ];
}

/// One step of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    /// From the first irreversible step on, the job cannot roll back nor be cancelled: a
    /// failure there is retried until it succeeds (or is fatal, leaving the job `failed`).
    pub irreversible: bool,
}

impl Step {
    /// A step that can be undone.
    pub const fn reversible(name: &'static str) -> Step {
        Step {
            name,
            irreversible: false,
        }
    }
    /// A step past the point of no return.
    pub const fn irreversible(name: &'static str) -> Step {
        Step {
            name,
            irreversible: true,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    /// The workflow that runs it (e.g. `migration`).
    pub kind: String,
    /// The resource it works on (`server/<id>`): one active job per resource.
    pub resource: String,
    pub idempotency_key: Option<String>,
    pub project_id: String,
    /// What it was asked to do.
    pub params: Value,
    /// What its steps recorded (IDs of what they made), so that a re-run finds it.
    pub data: Map<String, Value>,
    pub state: JobState,
    /// Running: the next step to run. Rolling back: the next step to undo (-1: none left).
    pub cursor: i64,
    /// Failed attempts of the current step.
    pub attempts: i64,
    pub bytes_done: i64,
    pub bytes_total: i64,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: i64,
    /// Not before this time (unix ms): backoff after a failure.
    pub run_after: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub resource: String,
    pub idempotency_key: Option<String>,
    pub project_id: String,
    pub params: Value,
}

/// One entry of a job's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub step: Option<String>,
    /// `created`, `started`, `step_started`, `step_done`, `retry`, `failed`, `undo_started`,
    /// `undone`, `cancel_requested`, `resumed`, `finished`, `info`.
    pub kind: String,
    pub message: String,
}

/// Filters of a job list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub kind: Option<String>,
    pub state: Option<JobState>,
    pub project_id: Option<String>,
    pub resource: Option<String>,
    pub limit: Option<i64>,
}
