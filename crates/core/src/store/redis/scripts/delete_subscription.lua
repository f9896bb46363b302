-- Deletes a subscription with its wants (counted down) and its failing mark. Its deliveries
-- stay until they expire; those still scheduled die unsent when claimed. In a store spread
-- over partitions (partition 0's write), its version stays behind as `d<version>`, so a copy
-- written late to another partition cannot bring it back, and the subscription is marked as
-- one whose copies may be behind, in the same write (see `mirror_subscription.lua`).
--
-- KEYS: 1 tenant's subscriptions hash, 2 versions hash, 3 wanted hash, 4 wants counters,
--       5 failing endpoints hash, 6 (partitioned) the marks of subscriptions to copy
-- ARGV: 1 subscription id, 2 (partitioned) the subscription's mark field
-- Returns {1, mark}, or {0, mark} when there was no such subscription; mark is the mark's
-- count after the write (0 unpartitioned).

local subs, versions, wanted, wants, failing, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5], KEYS[6]
local id = ARGV[1]

local mark = 0
if marks then
  mark = redis.call('HINCRBY', marks, ARGV[2], 1)
end
if redis.call('HDEL', subs, id) == 0 then
  return {0, mark}
end
count_wants(wants, redis.call('HGET', wanted, id), -1)
local version = redis.call('HGET', versions, id)
if marks and version then
  redis.call('HSET', versions, id, 'd' .. version)
else
  redis.call('HDEL', versions, id)
end
redis.call('HDEL', wanted, id)
redis.call('HDEL', failing, id)
return {1, mark}
