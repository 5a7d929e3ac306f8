-- The web console's sessions: the token's digest (the browser's cookie holds the token), the
-- credential it was opened with (an API key's digest, or a service account's client id and
-- secret digest, re-read on every request), and when it ends (absolute and idle).
CREATE TABLE console_sessions (
    token_digest      TEXT PRIMARY KEY,
    credential_digest TEXT NOT NULL,
    client_id         TEXT,
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
