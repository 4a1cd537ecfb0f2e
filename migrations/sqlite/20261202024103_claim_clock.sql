-- Fencing with one clock: each claim takes its version from this counter, which only
-- grows (max(previous + 1, the store's clock)), so a later claim always writes a higher
-- version than an earlier one, whatever the clocks of the processes say.
ALTER TABLE inbox_events ADD COLUMN claim_version INTEGER;
CREATE TABLE IF NOT EXISTS claim_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO claim_clock (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
