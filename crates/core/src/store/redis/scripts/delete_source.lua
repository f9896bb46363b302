-- Deletes an inbound source: its record, its token, its place in its tenant's set and its
-- request log.
--
-- KEYS: 1 the source's record, 2 its tenant's set of source ids, 3 its request log
-- ARGV: 1 the prefix of token keys (the token follows), 2 its id
-- Returns 1, or 0 when there was no such source.

local record, owned, log = KEYS[1], KEYS[2], KEYS[3]
local token = redis.call('HGET', record, 'token')
if not token then
  return 0
end
redis.call('DEL', ARGV[1] .. token, record, log)
redis.call('SREM', owned, ARGV[2])
return 1
