-- Publishes one notification at most once (architecture §9).
-- KEYS[1]: <prefix>:notification:<id>   KEYS[2]: the stream
-- ARGV[1]: the message JSON   ARGV[2]: TTL in seconds   ARGV[3]: the stream's approximate cap
-- ARGV[4..]: the channels
-- The key is the guard: a notification re-sent after a crash between publishing and
-- marking finds it and does nothing. It is set only after the XADD, the one command that
-- can fail (a stream key of another type): a failure then leaves no guard behind, and the
-- next try does everything. A script that fails midway is not rolled back by Redis.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'data', ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 4, #ARGV do
  redis.call('PUBLISH', ARGV[i], ARGV[1])
end
return 1
