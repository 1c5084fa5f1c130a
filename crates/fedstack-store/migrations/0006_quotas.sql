-- Global quotas at the top: limits per project (and the default class), reservations held
-- while a create is under way, and one lock row per project that serialises reservations.

ALTER TABLE servers ADD COLUMN vcpus BIGINT NOT NULL DEFAULT 0;
ALTER TABLE servers ADD COLUMN ram BIGINT NOT NULL DEFAULT 0;

CREATE TABLE quota_limits (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE quota_reservations (
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (id, resource)
);
CREATE INDEX quota_reservations_by_project ON quota_reservations (project_id, resource, expires_at);

CREATE TABLE quota_locks (
    project_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
