-- The warehouse tables (design §6) on PostgreSQL. Their columns mirror
-- src/warehouse/tables.rs one for one: the SQL writer binds by that list, so a column
-- missing here fails the warehouse tests instead of silently dropping data.
--
-- Types: Text -> TEXT, Int -> BIGINT, Float -> DOUBLE PRECISION, Bool -> BOOLEAN,
-- Time -> TIMESTAMPTZ, Json -> JSONB. NOT NULL where the typed row's field is neither an
-- Option nor a JSON value. The migration version (2026112910xxxx) is distinct from the
-- operational store's (2026112900xxxx): both migrators share `_sqlx_migrations` and
-- ignore each other's versions.

-- Every accepted webhook as received, written once (INSERT ... ON CONFLICT DO NOTHING).
CREATE TABLE IF NOT EXISTS gong_webhooks_raw (
    event_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    request_id      TEXT NOT NULL,
    auth_method     TEXT NOT NULL,
    key_id          TEXT,
    is_test         BOOLEAN NOT NULL,
    body_sha256     TEXT NOT NULL,
    payload         JSONB
);

-- "Every webhook of this call / email / meeting".
CREATE INDEX IF NOT EXISTS gong_webhooks_raw_source_id ON gong_webhooks_raw (source_id);

-- One row per call, upserted by call_id; a row only replaces one of a lower or equal
-- `version` (the processing claim's time), so a stale worker cannot overwrite a newer row.
CREATE TABLE IF NOT EXISTS gong_calls_enhanced (
    call_id             TEXT PRIMARY KEY,
    title               TEXT,
    url                 TEXT,
    started             TIMESTAMPTZ,
    scheduled           TIMESTAMPTZ,
    duration_seconds    DOUBLE PRECISION,
    direction           TEXT,
    system              TEXT,
    scope               TEXT,
    media               TEXT,
    language            TEXT,
    workspace_id        TEXT,
    primary_user_id     TEXT,
    is_private          BOOLEAN,
    participants        JSONB,
    trackers            JSONB,
    topics              JSONB,
    action_items        JSONB,
    brief               TEXT,
    key_points          JSONB,
    interaction_stats   JSONB,
    talk_ratio          DOUBLE PRECISION,
    transcript          JSONB,
    call_outcome        TEXT,
    -- the columns every enhanced table ends with
    crm_context         JSONB,
    sentiment_score     DOUBLE PRECISION,
    insights            JSONB,
    priority            TEXT NOT NULL,
    next_steps          JSONB,
    data_quality_score  DOUBLE PRECISION NOT NULL,
    enhanced            BOOLEAN NOT NULL,
    enhancement_note    TEXT,
    is_test             BOOLEAN NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             BIGINT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_calls_enhanced_updated_at ON gong_calls_enhanced (updated_at);
CREATE INDEX IF NOT EXISTS gong_calls_enhanced_started ON gong_calls_enhanced (started);

CREATE TABLE IF NOT EXISTS gong_emails_enhanced (
    email_id            TEXT PRIMARY KEY,
    thread_id           TEXT,
    subject             TEXT,
    from_address        JSONB,
    recipients          JSONB,
    sent_at             TIMESTAMPTZ,
    direction           TEXT,
    body                TEXT,
    workspace_id        TEXT,
    participants        JSONB,
    word_count          BIGINT NOT NULL,
    -- the columns every enhanced table ends with
    crm_context         JSONB,
    sentiment_score     DOUBLE PRECISION,
    insights            JSONB,
    priority            TEXT NOT NULL,
    next_steps          JSONB,
    data_quality_score  DOUBLE PRECISION NOT NULL,
    enhanced            BOOLEAN NOT NULL,
    enhancement_note    TEXT,
    is_test             BOOLEAN NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             BIGINT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_emails_enhanced_updated_at ON gong_emails_enhanced (updated_at);

CREATE TABLE IF NOT EXISTS gong_meetings_enhanced (
    meeting_id          TEXT PRIMARY KEY,
    title               TEXT,
    start_time          TIMESTAMPTZ,
    end_time            TIMESTAMPTZ,
    organizer           JSONB,
    invitees            JSONB,
    meeting_url         TEXT,
    call_id             TEXT,
    workspace_id        TEXT,
    participants        JSONB,
    recorded_call       JSONB,
    -- the columns every enhanced table ends with
    crm_context         JSONB,
    sentiment_score     DOUBLE PRECISION,
    insights            JSONB,
    priority            TEXT NOT NULL,
    next_steps          JSONB,
    data_quality_score  DOUBLE PRECISION NOT NULL,
    enhanced            BOOLEAN NOT NULL,
    enhancement_note    TEXT,
    is_test             BOOLEAN NOT NULL,
    source_event_id     TEXT NOT NULL,
    version             BIGINT NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS gong_meetings_enhanced_updated_at
    ON gong_meetings_enhanced (updated_at);

-- One row per pipeline stage run, written once. history_id is a UUID v7, so key order is
-- time order.
CREATE TABLE IF NOT EXISTS webhook_processing_history (
    history_id      TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    stage           TEXT NOT NULL,
    status          TEXT NOT NULL,
    error           TEXT,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ NOT NULL,
    duration_ms     BIGINT NOT NULL,
    request_id      TEXT NOT NULL
);

-- "What happened to this event" (the admin API, the tests).
CREATE INDEX IF NOT EXISTS webhook_processing_history_event_id
    ON webhook_processing_history (event_id);
