-- Cinder at the top: the index of volumes and snapshots of every site, and the top's volume
-- types with the type standing for each on a site.

-- `kind` is 'volume' or 'snapshot'; `body` is the record as its site last showed it (admin
-- view at the newest microversion), translated to top IDs.
CREATE TABLE volume_index (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX volume_index_by_project ON volume_index (kind, project_id, created_at, id);

CREATE TABLE volume_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public BIGINT NOT NULL DEFAULT 1,
    extra_specs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- Cinder always has `__DEFAULT__`; every site has its own, found by name.
INSERT INTO volume_types (id, name, description, is_public, extra_specs, created_at)
VALUES ('5f2a3c1e-9b7d-4e60-8a14-0c6d2b9e7f31', '__DEFAULT__', 'Default Volume Type', 1, '{}', 0);

CREATE TABLE site_volume_types (
    type_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_type_id TEXT NOT NULL,
    PRIMARY KEY (type_id, site_id)
);
