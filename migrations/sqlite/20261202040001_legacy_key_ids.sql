-- Key ids written before 2026-12-02 were 32 bits of an unsalted SHA-256 of an HS256 secret
-- or URL key (issue 11, item 5): anyone who can read the rows could test guesses against a
-- weak secret offline. Ids now name the key's position in its list; the old ones are
-- replaced by a marker that keeps only the method.
UPDATE inbox_events SET key_id = 'hs256:legacy' WHERE key_id LIKE 'hs256:________';
UPDATE inbox_events SET key_id = 'url_key:legacy' WHERE key_id LIKE 'url:%';
