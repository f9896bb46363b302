-- The record of the source an ingest token opens, in one round trip.
--
-- KEYS: 1 the token's key
-- ARGV: 1 the prefix of source records (the id follows)
-- Returns the source's JSON, or nil.

local id = redis.call('GET', KEYS[1])
if not id then
  return false
end
return redis.call('HGET', ARGV[1] .. id, 'doc')
