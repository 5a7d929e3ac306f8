-- Metered inference requests, one row each, written in batches by the usage writer. Usage is
-- history: deleting a model keeps its rows; deleting a workspace deletes them. No foreign key
-- to `workspaces`, so a batch never fails because one workspace went away meanwhile.
CREATE TABLE usage_records (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT NOT NULL,
    workspace     TEXT COLLATE "C" NOT NULL,
    model         TEXT COLLATE "C" NOT NULL,
    subject       TEXT NOT NULL,
    key_id        TEXT,
    provider      TEXT NOT NULL,
    status        INTEGER NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    total_tokens  BIGINT NOT NULL,
    latency_ms    BIGINT NOT NULL,
    ttfb_ms       BIGINT
);
CREATE INDEX usage_records_by_model ON usage_records (workspace, model, at);
CREATE INDEX usage_records_by_workspace ON usage_records (workspace, at);
