-- The pipeline's state beside the inbox.

-- Bumped by "reprocess": a reprocessed event's notifications are new ones (the agents
-- should hear about the new result), while a retry of the same generation is not.
ALTER TABLE inbox_events ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS inbox_events_source ON inbox_events (kind, source_id);

-- Notifications waiting for Redis (design §8). Written in the same transaction that marks
-- the event done, so an event is never done without its notifications, and a worker whose
-- lease was taken over writes none. The id is derived from what the message is about
-- (kind, source id, type, generation), so a re-fired webhook or a reconciler overlap for
-- the same call yields the same id and is published once.
CREATE TABLE IF NOT EXISTS outbox (
    notification_id     TEXT PRIMARY KEY,
    event_id            TEXT NOT NULL,
    message_type        TEXT NOT NULL,
    priority            TEXT NOT NULL,
    is_test             INTEGER NOT NULL,
    message             TEXT NOT NULL,        -- the JSON message as published
    created_at_ms       INTEGER NOT NULL,
    published_at_ms     INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    last_error          TEXT
);

CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (published_at_ms, next_attempt_at_ms);
CREATE INDEX IF NOT EXISTS outbox_event ON outbox (event_id);
