-- fedstack top schema. Portable SQL: runs on SQLite and PostgreSQL alike.
-- Times are unix milliseconds (BIGINT); flags are BIGINT 0/1; JSON is TEXT.

CREATE TABLE token_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    description TEXT,
    email TEXT,
    enabled BIGINT NOT NULL DEFAULT 1,
    default_project_id TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE assignments (
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    role_id TEXT NOT NULL,
    PRIMARY KEY (user_id, project_id, role_id)
);

CREATE TABLE app_credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    secret_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    unrestricted BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

-- Tokens are revoked by audit id (one token) or by subject (every token of a user or
-- project issued before a time).
CREATE TABLE revocations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    issued_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    az TEXT NOT NULL UNIQUE,
    auth_url TEXT NOT NULL,
    region TEXT,
    interface TEXT NOT NULL,
    credentials TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    enabled BIGINT NOT NULL DEFAULT 1,
    drained BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A top project's own project on each site.
CREATE TABLE site_projects (
    project_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_project_id TEXT NOT NULL,
    PRIMARY KEY (project_id, site_id)
);

-- Routing: top resource ID -> (site, site resource ID). The row is written before the site
-- resource is created (state 'creating'), so no site resource is ever untracked.
CREATE TABLE routes (
    kind TEXT NOT NULL,
    top_id TEXT NOT NULL,
    site_id TEXT,
    site_resource_id TEXT,
    project_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, top_id)
);
CREATE INDEX routes_by_site ON routes (site_id, kind, site_resource_id);

CREATE TABLE flavors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    ram BIGINT NOT NULL,
    disk BIGINT NOT NULL,
    ephemeral BIGINT NOT NULL DEFAULT 0,
    swap BIGINT NOT NULL DEFAULT 0,
    rxtx_factor DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    is_public BIGINT NOT NULL DEFAULT 1,
    description TEXT,
    extra_specs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE site_flavors (
    flavor_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_flavor_id TEXT NOT NULL,
    PRIMARY KEY (flavor_id, site_id)
);

CREATE TABLE keypairs (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE server_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    policy TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- The index of servers of every site, answered to lists. `body` is the server as the site
-- last showed it, translated to top IDs.
CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    site_id TEXT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    image_id TEXT,
    flavor_id TEXT,
    host TEXT,
    server_group_id TEXT,
    deleted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX servers_by_project ON servers (project_id, created_at, id);
CREATE INDEX servers_by_created ON servers (created_at, id);
CREATE INDEX servers_by_site ON servers (site_id, updated_at);
CREATE INDEX servers_by_group ON servers (server_group_id);

CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL,
    status TEXT NOT NULL,
    policy TEXT NOT NULL,
    size BIGINT,
    checksum TEXT,
    hash_value TEXT,
    disk_format TEXT,
    container_format TEXT,
    min_disk BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    protected BIGINT NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    properties TEXT NOT NULL DEFAULT '{}',
    local_data BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX images_by_owner ON images (owner, created_at, id);

-- Where an image exists on sites, and the state of its copy there.
CREATE TABLE image_copies (
    image_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_image_id TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (image_id, site_id)
);

-- Incremental sync position per site and resource kind.
CREATE TABLE sync_marks (
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (site_id, kind)
);

-- A top server group's group on each site it has members on.
CREATE TABLE site_server_groups (
    group_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_group_id TEXT NOT NULL,
    PRIMARY KEY (group_id, site_id)
);
