-- The warehouse tables (design §6) on SQLite. Their columns mirror
-- src/warehouse/tables.rs one for one: the SQL writer binds by that list, so a column
-- missing here fails the warehouse tests instead of silently dropping data.
--
-- SQLite has no timestamp, boolean or JSON type: Time -> TEXT holding RFC 3339 in UTC with
-- milliseconds and `Z` (one fixed width, so text order is time order), Bool -> INTEGER
-- 0/1, Json -> TEXT holding the JSON; Int -> INTEGER, Float -> REAL, Text -> TEXT.
-- NOT NULL where the typed row's field is neither an Option nor a JSON value; also on the
-- text keys, since SQLite (unlike the SQL standard) lets a non-INTEGER PRIMARY KEY be NULL.
-- The migration version (2026112910xxxx) is distinct from the operational store's
-- (2026112900xxxx): both migrators share `_sqlx_migrations` and ignore each other's
-- versions.

-- Every accepted webhook as received, written once (INSERT ... ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS gong_webhooks_raw (
    event_id        TEXT NOT NULL PRIMARY KEY,
    kind            TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    auth_method     TEXT NOT NULL,
    key_id          TEXT,
    is_test         INTEGER NOT NULL,
    body_sha256     TEXT NOT NULL,
    payload         TEXT
);

-- "Every webhook of this call / email / meeting".
CREATE INDEX IF NOT EXISTS gong_webhooks_raw_source_id ON gong_webhooks_raw (source_id);

-- One row per call, upserted by call_id; a row only replaces one of a lower or equal
-- `version` (the processing claim's time), so a stale worker cannot overwrite a newer row.
CREATE TABLE IF NOT EXISTS gong_calls_enhanced (
    call_id             TEXT NOT NULL PRIMARY KEY,
    title               TEXT,
    url                 TEXT,
    started             TEXT,
    scheduled           TEXT,
    duration_seconds    REAL,
    direction           TEXT,
    system              TEXT,
    scope               TEXT,
    media               TEXT,
    language            TEXT,
    workspace_id        TEXT,
    primary_user_id     TEXT,
    is_private          INTEGER,
    participants        TEXT,
    trackers            TEXT,
    topics              TEXT,
    action_items        TEXT,
    brief               TEXT,
    key_points          TEXT,
    interaction_stats   TEXT,
    talk_ratio          REAL,
    transcript          TEXT,
    call_outcome        TEXT,
    -- the columns every enhanced table ends with
    crm_context         TEXT,
    sentiment_score     REAL,
    insights            TEXT,
    priority            TEXT NOT NULL,
    next_steps          TEXT,
    data_quality_score  REAL NOT NULL,
    enhanced            INTEGER NOT NULL,
    enhancement_note    TEXT,
    is_test             INTEGER NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             INTEGER NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_calls_enhanced_updated_at ON gong_calls_enhanced (updated_at);
CREATE INDEX IF NOT EXISTS gong_calls_enhanced_started ON gong_calls_enhanced (started);

CREATE TABLE IF NOT EXISTS gong_emails_enhanced (
    email_id            TEXT NOT NULL PRIMARY KEY,
    thread_id           TEXT,
    subject             TEXT,
    from_address        TEXT,
    recipients          TEXT,
    sent_at             TEXT,
    direction           TEXT,
    body                TEXT,
    workspace_id        TEXT,
    participants        TEXT,
    word_count          INTEGER NOT NULL,
    -- the columns every enhanced table ends with
    crm_context         TEXT,
    sentiment_score     REAL,
    insights            TEXT,
    priority            TEXT NOT NULL,
    next_steps          TEXT,
    data_quality_score  REAL NOT NULL,
    enhanced            INTEGER NOT NULL,
    enhancement_note    TEXT,
    is_test             INTEGER NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             INTEGER NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_emails_enhanced_updated_at ON gong_emails_enhanced (updated_at);

CREATE TABLE IF NOT EXISTS gong_meetings_enhanced (
    meeting_id          TEXT NOT NULL PRIMARY KEY,
    title               TEXT,
    start_time          TEXT,
    end_time            TEXT,
    organizer           TEXT,
    invitees            TEXT,
    meeting_url         TEXT,
    call_id             TEXT,
    workspace_id        TEXT,
    participants        TEXT,
    recorded_call       TEXT,
    -- the columns every enhanced table ends with
    crm_context         TEXT,
    sentiment_score     REAL,
    insights            TEXT,
    priority            TEXT NOT NULL,
    next_steps          TEXT,
    data_quality_score  REAL NOT NULL,
    enhanced            INTEGER NOT NULL,
    enhancement_note    TEXT,
    is_test             INTEGER NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             INTEGER NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_meetings_enhanced_updated_at
    ON gong_meetings_enhanced (updated_at);

-- One row per pipeline stage run, written once. history_id is a UUID v7, so key order is
-- time order.
CREATE TABLE IF NOT EXISTS webhook_processing_history (
    history_id      TEXT NOT NULL PRIMARY KEY,
    event_id        TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    stage           TEXT NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    duration_ms     INTEGER NOT NULL,
    request_id      TEXT NOT NULL
);

-- "What happened to this event" (the admin API, the tests).
CREATE INDEX IF NOT EXISTS webhook_processing_history_event_id
    ON webhook_processing_history (event_id);
