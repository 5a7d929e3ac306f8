-- Metered inference requests, one row each, written in batches by the usage writer. Usage is
-- history: deleting a model keeps its rows; deleting a workspace deletes them. No foreign key
-- to `workspaces`, so a batch never fails because one workspace went away meanwhile.
CREATE TABLE usage_records (
    id            INTEGER PRIMARY KEY,
    at            INTEGER NOT NULL,
    workspace     TEXT NOT NULL,
    model         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    key_id        TEXT,
    provider      TEXT NOT NULL,
    status        INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    total_tokens  INTEGER NOT NULL,
    latency_ms    INTEGER NOT NULL,
    ttfb_ms       INTEGER
);
CREATE INDEX usage_records_by_model ON usage_records (workspace, model, at);
CREATE INDEX usage_records_by_workspace ON usage_records (workspace, at);
