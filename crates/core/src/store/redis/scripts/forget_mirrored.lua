-- Takes a subscription off the list of those whose copies may be behind partition 0's,
-- unless it was written again since the caller read its mark (the later writer, or the
-- repair, copies it again).
--
-- KEYS: 1 the marks (hash: '<tenant> <subscription id>' → how many writes marked it)
-- ARGV: 1 the field, 2 the mark the caller read
-- Returns 1 when the mark was taken off, else 0.

if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
