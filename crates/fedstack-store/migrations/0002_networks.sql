-- Neutron at the top. Portable SQL: runs on SQLite and PostgreSQL alike.

-- Every top network resource (network, subnet, port, security_group, security_group_rule,
-- router, floatingip) as its Neutron document. `parent_id` is the network of a subnet or
-- port, the group of a rule.
CREATE TABLE net_resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX net_resources_by_project ON net_resources (kind, project_id);
CREATE INDEX net_resources_by_parent ON net_resources (kind, parent_id);

-- Central IPAM: one row per address of a top subnet held by a top port. The primary key
-- makes a double allocation impossible, whichever top node allocates.
CREATE TABLE ip_allocations (
    subnet_id TEXT NOT NULL,
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_by_port ON ip_allocations (port_id);

-- MAC addresses of top ports, unique across the federation.
CREATE TABLE mac_allocations (
    mac TEXT PRIMARY KEY,
    port_id TEXT NOT NULL
);

-- The pieces of a top network resource on sites: a network stretched over three sites has
-- three. Written in state 'creating' before the site call, like a route.
CREATE TABLE net_site_pieces (
    kind TEXT NOT NULL,
    top_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    site_resource_id TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, top_id, site_id)
);
CREATE INDEX net_site_pieces_by_site ON net_site_pieces (site_id, kind, site_resource_id);
