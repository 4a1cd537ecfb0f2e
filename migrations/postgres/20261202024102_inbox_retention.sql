-- Retention (INBOX_RETENTION): a done event's payload is emptied once it is old, since its
-- raw body is in the warehouse's gong_webhooks_raw; the row stays (duplicate detection,
-- the admin view, reprocess). The partial index keeps finding prunable rows cheap however
-- many pruned ones there are.
ALTER TABLE inbox_events ADD COLUMN payload_pruned_at_ms BIGINT;
CREATE INDEX IF NOT EXISTS inbox_events_prunable ON inbox_events (updated_at_ms)
    WHERE status = 'done' AND payload_pruned_at_ms IS NULL;
