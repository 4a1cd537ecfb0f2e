-- An exact retry of an accepted delivery (same token, same body: a proxy lost our 200) is
-- answered with the event it was accepted as; a reused token with another body is a replay.
-- Tokens accepted before this migration have neither and stay replays.
ALTER TABLE replay_tokens ADD COLUMN event_id TEXT;
ALTER TABLE replay_tokens ADD COLUMN body_sha256 TEXT;
