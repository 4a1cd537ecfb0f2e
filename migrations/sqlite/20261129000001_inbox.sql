-- The durable inbox: one row per accepted webhook, written before the 200 is sent.
-- Times are Unix epoch milliseconds (the same representation on SQLite and PostgreSQL).
CREATE TABLE IF NOT EXISTS inbox_events (
    event_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('call', 'email', 'meeting')),
    source_id       TEXT NOT NULL,
    body_sha256     TEXT NOT NULL,
    payload         BLOB NOT NULL,            -- the raw body exactly as received
    received_at_ms  INTEGER NOT NULL,
    request_id      TEXT NOT NULL,
    auth_method     TEXT NOT NULL,
    key_id          TEXT,
    is_test         INTEGER NOT NULL,
    -- job state for the pipeline (shared/style.md §2)
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'done', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_at_ms       INTEGER NOT NULL,
    lease_until_ms  INTEGER,
    lease_id        TEXT,
    last_error      TEXT,
    updated_at_ms   INTEGER NOT NULL,
    UNIQUE (kind, source_id, body_sha256)
);

CREATE INDEX IF NOT EXISTS inbox_events_ready ON inbox_events (status, run_at_ms);

-- Hashes of accepted tokens, kept until the token could no longer pass its exp check.
CREATE TABLE IF NOT EXISTS replay_tokens (
    token_sha256    TEXT PRIMARY KEY,
    expires_at_ms   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS replay_tokens_expiry ON replay_tokens (expires_at_ms);
