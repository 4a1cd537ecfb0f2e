-- The warehouse's copy of the old key ids (see the store's migration of the same day):
-- 32 bits of an unsalted SHA-256 of an HS256 secret or URL key, replaced by a marker that
-- keeps only the method.
UPDATE gong_webhooks_raw SET key_id = 'hs256:legacy' WHERE key_id LIKE 'hs256:________';
UPDATE gong_webhooks_raw SET key_id = 'url_key:legacy' WHERE key_id LIKE 'url:%';
