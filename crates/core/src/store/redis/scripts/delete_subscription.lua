-- Deletes a subscription with its version, its wants (counted down) and its failing mark.
-- Its deliveries stay until they expire; those still scheduled die unsent when claimed.
--
-- KEYS: 1 tenant's subscriptions hash, 2 versions hash, 3 wanted hash, 4 wants counters,
--       5 failing endpoints hash
-- ARGV: 1 subscription id
-- Returns 1, or 0 when there was no such subscription.

local subs, versions, wanted, wants, failing = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id = ARGV[1]

if redis.call('HDEL', subs, id) == 0 then
  return 0
end
count_wants(wants, redis.call('HGET', wanted, id), -1)
redis.call('HDEL', versions, id)
redis.call('HDEL', wanted, id)
redis.call('HDEL', failing, id)
return 1
