//! `/fed/v1/migrations`: start a migration of a server to another site, list and show them
//! (steps, progress, bytes moved, events), cancel one; and `/metrics`, the jobs for
//! Prometheus. A tenant sees and moves its own project's servers; an admin any.

use super::workflow::Params;
use super::{server_resource, KIND};
use crate::auth::Caller;
use crate::compute::owned_route;
use crate::Top;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fedstack_api_types::http::OsJson;
use fedstack_api_types::{ApiError, Service};
use fedstack_jobs::{CancelOutcome, Created, Job, JobError, JobFilter, JobState, NewJob};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

type Res = Result<Response, ApiError>;

/// The migration routes, nested under `/fed/v1`.
pub fn router() -> Router<Arc<Top>> {
    Router::new()
        .route("/migrations", get(list).post(create))
        .route("/migrations/{id}", get(show))
        .route("/migrations/{id}/cancel", post(cancel))
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

fn job_err(e: impl std::fmt::Display) -> ApiError {
    err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Migration {id} could not be found."),
    )
}

/// The name of a site ID (the ID itself when the site was removed).
fn site_name(top: &Top, id: &str) -> String {
    top.sites
        .get(id)
        .map_or_else(|| id.to_string(), |s| s.name().to_string())
}

fn time(ms: Option<i64>) -> Value {
    json!(ms.and_then(chrono::DateTime::from_timestamp_millis))
}

/// A migration as the API shows it; `detail` adds its steps and events.
async fn view(top: &Top, job: &Job, detail: bool) -> Result<Value, ApiError> {
    let p: Option<Params> = serde_json::from_value(job.params.clone()).ok();
    let steps = top.jobs.steps(&job.kind).unwrap_or_default();
    let step = usize::try_from(job.cursor)
        .ok()
        .and_then(|i| steps.get(i))
        .filter(|_| !job.state.is_final())
        .map(|s| s.name);
    let mut v = json!({
        "id": job.id,
        "server_id": p.as_ref().map(|p| p.server_id.clone()),
        "source": p.as_ref().map(|p| site_name(top, &p.source)),
        "destination": p.as_ref().map(|p| site_name(top, &p.destination)),
        "type": p.as_ref().map(|p| p.kind.clone()),
        "project_id": job.project_id,
        "state": job.state,
        "step": step,
        "progress": (top.jobs.progress(job) * 10.0).round() / 10.0,
        "bytes_moved": job.bytes_done,
        "bytes_total": job.bytes_total,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "attempts": job.attempts,
        "created_at": time(Some(job.created_at)),
        "updated_at": time(Some(job.updated_at)),
        "finished_at": time(job.finished_at),
    });
    if detail {
        let list: Vec<Value> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"name": s.name, "state": step_state(job, i as i64), "reversible": !s.irreversible})
            })
            .collect();
        v["steps"] = json!(list);
        let events = top.jobs.store().events(&job.id).await.map_err(job_err)?;
        v["events"] = json!(events
            .into_iter()
            .map(|e| json!({"at": time(Some(e.at)), "step": e.step, "kind": e.kind, "message": e.message}))
            .collect::<Vec<_>>());
    }
    Ok(v)
}

/// Where step `i` of a job stands.
fn step_state(job: &Job, i: i64) -> &'static str {
    match job.state {
        JobState::Done => "done",
        JobState::Queued => "pending",
        JobState::Running | JobState::Failed if i < job.cursor => "done",
        JobState::Running if i == job.cursor => "running",
        JobState::Failed if i == job.cursor => "failed",
        JobState::RollingBack if i == job.cursor => "undoing",
        JobState::RollingBack | JobState::RolledBack | JobState::Cancelled if i > job.cursor => {
            "undone"
        }
        JobState::RollingBack => "done",
        _ => "pending",
    }
}

/// The body of a create.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    migration: CreateMigration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMigration {
    server_id: String,
    /// Site name, ID or availability zone.
    destination: String,
    #[serde(rename = "type", default = "cold")]
    kind: String,
    idempotency_key: Option<String>,
}

fn cold() -> String {
    "cold".into()
}

async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let body: CreateBody = serde_json::from_value(body).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            format!("Invalid migration request: {e}"),
        )
    })?;
    let m = body.migration;
    if m.kind != "cold" {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!(
                "Migration type {} is not supported; only cold migration is.",
                m.kind
            ),
        ));
    }
    let top = &c.top;
    let route = owned_route(&c, &m.server_id).await?;
    let dest = top
        .sites
        .find(&m.destination)
        .or_else(|| top.sites.by_az(&m.destination))
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                format!("Site {} could not be found.", m.destination),
            )
        })?;
    let source = route.site_id.clone().ok_or_else(|| {
        err(
            StatusCode::CONFLICT,
            format!("Instance {} is not on any site.", m.server_id),
        )
    })?;
    if source == dest.id() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!(
                "Instance {} is already on site {}.",
                m.server_id,
                dest.name()
            ),
        ));
    }
    let params = Params {
        server_id: m.server_id.clone(),
        source,
        destination: dest.id().to_string(),
        kind: m.kind,
    };
    let new = NewJob {
        kind: KIND.into(),
        resource: server_resource(&m.server_id),
        idempotency_key: m.idempotency_key,
        project_id: route.project_id.clone(),
        params: serde_json::to_value(&params).map_err(job_err)?,
    };
    let (status, job) = match top.jobs.submit(&new).await {
        Ok(Created::New(j)) => (StatusCode::ACCEPTED, j),
        Ok(Created::Existing(j)) => (StatusCode::OK, j),
        Ok(Created::Busy(j)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!(
                    "Instance {} is already being migrated (migration {}).",
                    m.server_id, j.id
                ),
            ))
        }
        Err(JobError::UnknownKind(k)) => return Err(job_err(format!("no workflow for {k}"))),
        Err(e) => return Err(job_err(e)),
    };
    tracing::info!(job = %job.id, server = %m.server_id, destination = %dest.name(), "migration requested");
    Ok((
        status,
        Json(json!({"migration": view(top, &job, true).await?})),
    )
        .into_response())
}

/// Filters of a list.
#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    server_id: Option<String>,
    project_id: Option<String>,
    limit: Option<String>,
}

async fn list(c: Caller, Query(q): Query<ListQuery>) -> Res {
    let state = match q.state.as_deref() {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                format!("Invalid state {s}: one of queued, running, rolling_back, done, rolled_back, cancelled, failed."),
            )
        })?),
        None => None,
    };
    let limit = match q.limit.as_deref() {
        Some(l) => Some(l.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                format!("Invalid limit {l}: a positive integer."),
            )
        })?),
        None => None,
    };
    let project_id = if c.is_admin() {
        q.project_id
    } else {
        Some(c.project_id().to_string())
    };
    let filter = JobFilter {
        kind: Some(KIND.into()),
        state,
        project_id,
        resource: q.server_id.as_deref().map(server_resource),
        limit,
    };
    let jobs = c.top.jobs.store().list(&filter).await.map_err(job_err)?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in &jobs {
        out.push(view(&c.top, j, false).await?);
    }
    Ok(Json(json!({ "migrations": out })).into_response())
}

/// A migration the caller may see: its project's, or any for an admin.
async fn visible(c: &Caller, id: &str) -> Result<Job, ApiError> {
    c.top
        .jobs
        .store()
        .get(id)
        .await
        .map_err(job_err)?
        .filter(|j| j.kind == KIND && (c.is_admin() || j.project_id == c.project_id()))
        .ok_or_else(|| not_found(id))
}

async fn show(c: Caller, Path(id): Path<String>) -> Res {
    let job = visible(&c, &id).await?;
    Ok(Json(json!({"migration": view(&c.top, &job, true).await?})).into_response())
}

async fn cancel(c: Caller, Path(id): Path<String>) -> Res {
    visible(&c, &id).await?;
    match c.top.jobs.cancel(&id).await.map_err(job_err)? {
        CancelOutcome::Requested(j) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"migration": view(&c.top, &j, false).await?})),
        )
            .into_response()),
        CancelOutcome::TooLate(j) => Err(err(
            StatusCode::CONFLICT,
            if j.state.is_final() {
                format!(
                    "Migration {id} cannot be cancelled: it has ended ({}).",
                    j.state.as_str()
                )
            } else {
                format!("Migration {id} cannot be cancelled: the server already runs on the destination.")
            },
        )),
        CancelOutcome::NotFound => Err(not_found(&id)),
    }
}

/// `GET /metrics`: the jobs in Prometheus' text format.
pub async fn metrics(State(top): State<Arc<Top>>) -> Response {
    match fedstack_jobs::metrics::render(top.jobs.store()).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
