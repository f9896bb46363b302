-- Stores a subscription: a new one (within the tenant's limit), or a replacement of the
-- stored one if its version is still the expected one (compare-and-set). Keeps the tenant's
-- wants counters exact: the fields the subscription wanted before (from `wanted`) are
-- counted down, the fields it wants now counted up. Versions are compared as the decimal
-- strings Rust wrote, so nothing is parsed as a (float) Lua number.
--
-- In a store spread over partitions (partition 0's write), it also marks the subscription as
-- one whose copies in the other partitions may be behind, in the same write (see
-- `mirror_subscription.lua`).
--
-- KEYS: 1 tenant's subscriptions hash, 2 versions hash, 3 wanted hash, 4 wants counters,
--       5 (partitioned) the marks of subscriptions to copy
-- ARGV: 1 subscription id, 2 doc, 3 new version, 4 expected version ('' = a new one),
--       5 wants fields now (space-separated; '' while disabled), 6 most subscriptions,
--       7 (partitioned) the subscription's mark field
-- Returns {1, mark}, {0, mark} when the stored version is not the expected one (or a new
-- one's id is taken, or a replaced one vanished), {-1, mark} when the tenant holds the most
-- subscriptions already; mark is the mark's count after the write (0 unpartitioned).

local subs, versions, wanted, wants, marks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, doc, version, expected, fields, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  tonumber(ARGV[6])

local mark = 0
if marks then
  mark = redis.call('HINCRBY', marks, ARGV[7], 1)
end

local current = redis.call('HGET', versions, id)
if expected == '' then
  if current or redis.call('HEXISTS', subs, id) == 1 then
    return {0, mark}
  end
  if redis.call('HLEN', subs) >= max then
    return {-1, mark}
  end
elseif current ~= expected then
  return {0, mark}
end

count_wants(wants, redis.call('HGET', wanted, id), -1)
count_wants(wants, fields, 1)
redis.call('HSET', subs, id, doc)
redis.call('HSET', versions, id, version)
redis.call('HSET', wanted, id, fields)
return {1, mark}
