-- Durable jobs (fedstack-jobs): one row per job, its event history in job_events.
-- `active_resource` holds the resource key while the job is active and NULL once it ended,
-- so its unique constraint allows one active job per resource (NULLs never collide).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    resource TEXT NOT NULL,
    active_resource TEXT UNIQUE,
    idempotency_key TEXT UNIQUE,
    project_id TEXT NOT NULL,
    params TEXT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL,
    cursor BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    bytes_done BIGINT NOT NULL DEFAULT 0,
    bytes_total BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at BIGINT NOT NULL DEFAULT 0,
    run_after BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_resource ON jobs (resource);

CREATE TABLE job_events (
    job_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    step TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
