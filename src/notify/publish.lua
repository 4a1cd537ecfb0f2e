-- Publishes one notification at most once (architecture §9).
-- KEYS[1]: sophia:gong:notification:<id>   KEYS[2]: the stream
-- ARGV[1]: the message JSON   ARGV[2]: TTL in seconds   ARGV[3]: the stream's approximate cap
-- ARGV[4..]: the channels
-- The key is the guard: only the call that creates it publishes and appends, so a
-- notification re-sent after a crash between publishing and marking it is a no-op.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return 0
end
for i = 4, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[1])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'data', ARGV[1])
return 1
