-- modelgate's schema on PostgreSQL: the same tables as migrations/sqlite. Timestamps are
-- microseconds since the Unix epoch (BIGINT); JSON documents are TEXT, stored exactly as
-- written (JSONB would reorder keys). Identifiers use the "C" collation, byte order like
-- SQLite's BINARY, so listings and keyset cursors order the same on both engines whatever
-- the database's default collation.

-- `document` holds the writable fields (displayName, labels, region, accountId, runtime).
CREATE TABLE workspaces (
    name       TEXT COLLATE "C" PRIMARY KEY,
    document   TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

-- Human principals. A platform admin (the bootstrap admin) administers every workspace.
CREATE TABLE users (
    subject        TEXT COLLATE "C" PRIMARY KEY,
    platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);

CREATE TABLE workspace_admins (
    workspace  TEXT COLLATE "C" NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,
    subject    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, subject)
);
CREATE INDEX workspace_admins_by_subject ON workspace_admins (subject);

-- Machine principals, bound to one workspace. The client secret is stored as a SHA-256 digest.
CREATE TABLE service_accounts (
    client_id     TEXT COLLATE "C" PRIMARY KEY,
    workspace     TEXT COLLATE "C" NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    secret_digest TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL
);
CREATE INDEX service_accounts_by_workspace ON service_accounts (workspace);

-- API keys are stored only as SHA-256 digests of the full key.
CREATE TABLE api_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    workspace    TEXT COLLATE "C" NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_digest   TEXT COLLATE "C" NOT NULL UNIQUE,
    subject      TEXT COLLATE "C" NOT NULL,
    subject_type TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    expires_in   TEXT,
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL
);
CREATE INDEX api_keys_by_subject ON api_keys (subject);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace);

-- Models, integration connections and policies, one row each. `document` holds the writable
-- metadata and the spec as JSON (never a secret); secrets are sealed in `secret_sealed`.
CREATE TABLE resources (
    workspace     TEXT COLLATE "C" NOT NULL REFERENCES workspaces(name) ON DELETE CASCADE,
    kind          TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    search_text   TEXT NOT NULL,
    status        TEXT,
    document      TEXT NOT NULL,
    events        TEXT NOT NULL DEFAULT '[]',
    secret_key_id TEXT,
    secret_sealed BYTEA,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    PRIMARY KEY (workspace, kind, name)
);
CREATE INDEX resources_by_created ON resources (workspace, kind, created_at, name);

-- Which resource names which (a model naming its connections and policies).
CREATE TABLE resource_refs (
    workspace TEXT COLLATE "C" NOT NULL,
    from_kind TEXT COLLATE "C" NOT NULL,
    from_name TEXT COLLATE "C" NOT NULL,
    to_kind   TEXT COLLATE "C" NOT NULL,
    to_name   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace, from_kind, from_name, to_kind, to_name)
);
CREATE INDEX resource_refs_by_target ON resource_refs (workspace, to_kind, to_name);

CREATE TABLE revisions (
    workspace  TEXT COLLATE "C" NOT NULL,
    kind       TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    seq        BIGINT NOT NULL,
    status     TEXT NOT NULL,
    document   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (workspace, kind, name, id)
);
CREATE INDEX revisions_by_seq ON revisions (workspace, kind, name, seq);
