-- The outbox publisher claims rows like workers claim events: a lease, and a lease id that
-- fences the mark (a publisher whose lease ran out cannot mark a row another one claimed).
ALTER TABLE outbox ADD COLUMN lease_id TEXT;
ALTER TABLE outbox ADD COLUMN lease_until_ms BIGINT;
-- Marks and give-backs name rows by lease id.
CREATE INDEX IF NOT EXISTS outbox_lease ON outbox (lease_id) WHERE lease_id IS NOT NULL;
