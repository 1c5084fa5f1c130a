//! Jobs on sqlx `Any` (SQLite and PostgreSQL, the `jobs` and `job_events` tables of the
//! store's migrations). Every write that a lease protects names the owner in its `WHERE`, so
//! a node that lost its lease cannot overwrite the work of the node that took the job over.

use crate::model::{Event, Job, JobFilter, JobState, NewJob};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// Errors of the job store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt job row: {0}")]
    Corrupt(String),
}

/// What [`JobStore::create`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new job, persisted and queued.
    New(Job),
    /// A job with the same idempotency key already existed: that one.
    Existing(Job),
    /// Another job is active on the resource: that one.
    Busy(Job),
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const COLS: &str = "id, kind, resource, idempotency_key, project_id, params, data, state, cursor, attempts, bytes_done, bytes_total, error, cancel_requested, lease_owner, lease_expires_at, run_after, created_at, updated_at, finished_at";

fn job_row(r: &AnyRow) -> Result<Job, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let state: String = r.try_get("state")?;
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        resource: r.try_get("resource")?,
        idempotency_key: r.try_get("idempotency_key")?,
        project_id: r.try_get("project_id")?,
        params: serde_json::from_str(&r.try_get::<String, _>("params")?).map_err(corrupt)?,
        data: serde_json::from_str(&r.try_get::<String, _>("data")?).map_err(corrupt)?,
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown state {state}")))?,
        cursor: r.try_get("cursor")?,
        attempts: r.try_get("attempts")?,
        bytes_done: r.try_get("bytes_done")?,
        bytes_total: r.try_get("bytes_total")?,
        error: r.try_get("error")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        lease_owner: r.try_get("lease_owner")?,
        lease_expires_at: r.try_get("lease_expires_at")?,
        run_after: r.try_get("run_after")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Aggregates of the jobs of one kind in one state (for metrics).
#[derive(Debug, Clone, PartialEq)]
pub struct KindStats {
    pub kind: String,
    pub state: JobState,
    pub count: i64,
    /// Sum of (finished - created) over finished jobs, in milliseconds.
    pub duration_ms: i64,
    /// Finished jobs that took at most each bound of [`DURATION_BUCKETS_S`].
    pub buckets: Vec<i64>,
    pub bytes: i64,
}

/// Upper bounds (seconds) of the job duration histogram.
pub const DURATION_BUCKETS_S: [i64; 8] = [1, 5, 15, 30, 60, 300, 900, 3600];

/// The jobs tables.
#[derive(Clone, Debug)]
pub struct JobStore {
    pool: AnyPool,
}

impl JobStore {
    /// Jobs in the database of `pool` (migrated by `fedstack-store`).
    pub fn new(pool: AnyPool) -> JobStore {
        JobStore { pool }
    }

    /// Persists a queued job, unless its idempotency key names an existing job or another
    /// job is active on its resource.
    pub async fn create(&self, new: &NewJob) -> Result<Created, StoreError> {
        for _ in 0..3 {
            if let Some(key) = &new.idempotency_key {
                if let Some(j) = self.by_idempotency_key(key).await? {
                    return Ok(Created::Existing(j));
                }
            }
            if let Some(j) = self.active_on(&new.resource).await? {
                return Ok(Created::Busy(j));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let now = now_ms();
            let inserted = sqlx::query("INSERT INTO jobs (id, kind, resource, active_resource, idempotency_key, project_id, params, data, state, created_at, updated_at) VALUES ($1, $2, $3, $3, $4, $5, $6, '{}', 'queued', $7, $7)")
                .bind(&id)
                .bind(&new.kind)
                .bind(&new.resource)
                .bind(&new.idempotency_key)
                .bind(&new.project_id)
                .bind(new.params.to_string())
                .bind(now)
                .execute(&self.pool)
                .await;
            match inserted {
                Ok(_) => {
                    self.event(
                        &id,
                        None,
                        "created",
                        &format!("{} of {}", new.kind, new.resource),
                    )
                    .await?;
                    let job = self.get(&id).await?.ok_or_else(|| {
                        StoreError::Corrupt(format!("job {id} vanished after its insert"))
                    })?;
                    return Ok(Created::New(job));
                }
                // Lost a race with a concurrent create: look again.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Corrupt(format!(
            "could not create a job on {}",
            new.resource
        )))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let q = format!("SELECT {COLS} FROM jobs WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    async fn by_idempotency_key(&self, key: &str) -> Result<Option<Job>, StoreError> {
        let q = format!("SELECT {COLS} FROM jobs WHERE idempotency_key = $1");
        sqlx::query(&q)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    /// The active job on `resource`, if any.
    pub async fn active_on(&self, resource: &str) -> Result<Option<Job>, StoreError> {
        let q = format!("SELECT {COLS} FROM jobs WHERE active_resource = $1");
        sqlx::query(&q)
            .bind(resource)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_row)
            .transpose()
    }

    /// Jobs matching `f`, newest first.
    pub async fn list(&self, f: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let mut q = format!("SELECT {COLS} FROM jobs WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut add = |col: &str, v: Option<&str>, q: &mut String| {
            if let Some(v) = v {
                binds.push(v.to_string());
                q.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        };
        add("kind", f.kind.as_deref(), &mut q);
        add("state", f.state.map(JobState::as_str), &mut q);
        add("project_id", f.project_id.as_deref(), &mut q);
        add("resource", f.resource.as_deref(), &mut q);
        q.push_str(&format!(
            " ORDER BY created_at DESC, id LIMIT {}",
            f.limit.unwrap_or(1000).clamp(1, 1000)
        ));
        let mut query = sqlx::query(&q);
        for b in &binds {
            query = query.bind(b);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_row)
            .collect()
    }

    /// Appends an event to a job's history.
    pub async fn event(
        &self,
        job_id: &str,
        step: Option<&str>,
        kind: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        for _ in 0..5 {
            let r = sqlx::query("INSERT INTO job_events (job_id, seq, at, step, kind, message) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM job_events WHERE job_id = $1")
                .bind(job_id)
                .bind(now_ms())
                .bind(step)
                .bind(kind)
                .bind(message)
                .execute(&self.pool)
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// A job's history, oldest first.
    pub async fn events(&self, job_id: &str) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, step, kind, message FROM job_events WHERE job_id = $1 ORDER BY seq",
        )
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    step: r.try_get("step")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// IDs of jobs that a node may claim now: active, due, and with no live lease.
    pub async fn claimable(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM jobs WHERE state IN ('queued', 'running', 'rolling_back') AND run_after <= $1 AND (lease_owner IS NULL OR lease_expires_at < $1) ORDER BY created_at")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Takes the lease of a job if nobody holds a live one: true when this owner has it.
    pub async fn claim(&self, id: &str, owner: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let r = sqlx::query("UPDATE jobs SET lease_owner = $2, lease_expires_at = $3 WHERE id = $1 AND state IN ('queued', 'running', 'rolling_back') AND run_after <= $4 AND (lease_owner IS NULL OR lease_expires_at < $4)")
            .bind(id)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Extends a lease this owner holds: false when it was lost.
    pub async fn renew(&self, id: &str, owner: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let r =
            sqlx::query("UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_owner = $2")
                .bind(id)
                .bind(owner)
                .bind(now_ms() + lease_ms)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Writes the state, cursor, attempts, error and backoff of a leased job (the lease is
    /// kept unless `release`). False when the lease was lost.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_position(
        &self,
        id: &str,
        owner: &str,
        state: JobState,
        cursor: i64,
        attempts: i64,
        error: Option<&str>,
        run_after: i64,
        release: bool,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let finished = state.is_final().then_some(now);
        let sql = format!(
            "UPDATE jobs SET state = $3, cursor = $4, attempts = $5, error = $6, run_after = $7, updated_at = $8, finished_at = $9{}{} WHERE id = $1 AND lease_owner = $2",
            if release { ", lease_owner = NULL, lease_expires_at = 0" } else { "" },
            if state.is_final() { ", active_resource = NULL" } else { "" },
        );
        let r = sqlx::query(&sql)
            .bind(id)
            .bind(owner)
            .bind(state.as_str())
            .bind(cursor)
            .bind(attempts)
            .bind(error)
            .bind(run_after)
            .bind(now)
            .bind(finished)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces the recorded data of a leased job. False when the lease was lost.
    pub async fn set_data(
        &self,
        id: &str,
        owner: &str,
        data: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE jobs SET data = $3, updated_at = $4 WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(Value::Object(data.clone()).to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records bytes moved, and reads back whether a cancel was requested. `None` when the
    /// lease was lost.
    pub async fn set_bytes(
        &self,
        id: &str,
        owner: &str,
        done: i64,
        total: i64,
    ) -> Result<Option<bool>, StoreError> {
        let r = sqlx::query("UPDATE jobs SET bytes_done = $3, bytes_total = $4, updated_at = $5 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .bind(done)
            .bind(total)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        self.cancel_requested(id).await.map(Some)
    }

    /// True when a cancel of the job was requested.
    pub async fn cancel_requested(&self, id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT cancel_requested FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("cancel_requested")? != 0,
            None => false,
        })
    }

    /// Marks a job to be cancelled if it is still active and its cursor has not reached
    /// `point_of_no_return`. True when marked.
    pub async fn request_cancel(
        &self,
        id: &str,
        point_of_no_return: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE jobs SET cancel_requested = 1, run_after = 0, updated_at = $3 WHERE id = $1 AND state IN ('queued', 'running') AND cursor < $2")
            .bind(id)
            .bind(point_of_no_return)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Counts, durations and bytes of jobs by kind and state.
    pub async fn stats(&self) -> Result<Vec<KindStats>, StoreError> {
        let buckets: String = DURATION_BUCKETS_S
            .iter()
            .enumerate()
            .map(|(i, b)| {
                format!(", CAST(COALESCE(SUM(CASE WHEN finished_at IS NOT NULL AND finished_at - created_at <= {}  THEN 1 ELSE 0 END), 0) AS BIGINT) AS b{i}", b * 1000)
            })
            .collect();
        let q = format!("SELECT kind, state, COUNT(*) AS n, CAST(COALESCE(SUM(CASE WHEN finished_at IS NULL THEN 0 ELSE finished_at - created_at END), 0) AS BIGINT) AS dur, CAST(COALESCE(SUM(bytes_done), 0) AS BIGINT) AS bytes{buckets} FROM jobs GROUP BY kind, state ORDER BY kind, state");
        let rows = sqlx::query(&q).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                Ok(KindStats {
                    kind: r.try_get("kind")?,
                    state: JobState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown state {state}")))?,
                    count: r.try_get("n")?,
                    duration_ms: r.try_get("dur")?,
                    buckets: (0..DURATION_BUCKETS_S.len())
                        .map(|i| r.try_get(format!("b{i}").as_str()))
                        .collect::<Result<_, _>>()?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .collect()
    }
}
