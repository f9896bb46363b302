-- Stores an inbound source: a new one within its tenant's bound, or the next version of one
-- whose stored version is the one its change was computed from (compare-and-set).
--
-- KEYS: 1 the source's record (hash: doc, version, token), 2 its tenant's set of source
--       ids, 3 its token's key
-- ARGV: 1 the version the change was computed from ('0' for a new source), 2 the record's
--       JSON, 3 its version, 4 its id, 5 its token, 6 how many sources a tenant may have
-- Returns 1 when stored, 0 when the stored version is not the one expected (or the source is
-- gone), -1 when the tenant has as many sources as it may.

local record, owned, token_key = KEYS[1], KEYS[2], KEYS[3]
local expected, doc, version, id, token, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  tonumber(ARGV[6])

local stored = redis.call('HGET', record, 'version')
if expected == '0' then
  if stored then
    return 0
  end
  if redis.call('SCARD', owned) >= max then
    return -1
  end
  redis.call('SADD', owned, id)
  redis.call('SET', token_key, id)
elseif stored ~= expected then
  return 0
end
redis.call('HSET', record, 'doc', doc, 'version', version, 'token', token)
return 1
