-- Deletes a subscription with its wants (counted down) and its failing mark. Its deliveries
-- stay until they expire; those still scheduled die unsent when claimed. With a tombstone
-- asked for (a store spread over partitions), its version stays behind as `d<version>`, so a
-- copy written late to another partition cannot bring it back (see `mirror_subscription.lua`).
--
-- KEYS: 1 tenant's subscriptions hash, 2 versions hash, 3 wanted hash, 4 wants counters,
--       5 failing endpoints hash
-- ARGV: 1 subscription id, 2 '1' to leave a tombstone, else ''
-- Returns 1, or 0 when there was no such subscription.

local subs, versions, wanted, wants, failing = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, tombstone = ARGV[1], ARGV[2] == '1'

if redis.call('HDEL', subs, id) == 0 then
  return 0
end
count_wants(wants, redis.call('HGET', wanted, id), -1)
local version = redis.call('HGET', versions, id)
if tombstone and version then
  redis.call('HSET', versions, id, 'd' .. version)
else
  redis.call('HDEL', versions, id)
end
redis.call('HDEL', wanted, id)
redis.call('HDEL', failing, id)
return 1
