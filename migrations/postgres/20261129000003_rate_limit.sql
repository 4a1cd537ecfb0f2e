-- Gong's rate limit and daily quota are per company, not per process: every `serve`
-- replica and CLI command sharing this store takes its permits from this row, so together
-- they stay under the limit instead of each using all of it.
--
-- The bucket is kept as GCRA's "theoretical arrival time" (tat_ms): a permit is granted
-- when max(tat, now) + interval lies at most `burst` intervals ahead of now, and then
-- becomes the new tat. One number, updated in one short transaction per Gong request.
CREATE TABLE IF NOT EXISTS rate_limits (
    name        TEXT PRIMARY KEY,
    tat_ms      BIGINT NOT NULL,
    day         TEXT NOT NULL,       -- UTC date of day_used
    day_used    BIGINT NOT NULL
);
