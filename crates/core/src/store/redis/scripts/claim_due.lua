-- Takes up to `max` deliveries that are due, leasing each: its due time moves to the end of
-- the lease, so no other claim returns it until the lease runs out (or an attempt is
-- recorded). A delivery whose record expired leaves the schedule.
--
-- KEYS: 1 due zset
-- ARGV: 1 how many at most, 2 lease (ms), 3 delivery key prefix ('<prefix>:delivery:{'),
--       4 subscriptions key prefix ('<prefix>:subs:{')
-- Returns a flat list, four per delivery: id, doc, body, the subscription's doc (nil for a
-- job's own webhook, or when the subscription is gone).
--
-- The delivery and subscription hashes are addressed by names built here: which deliveries
-- are due is only known inside the script (as in promote.lua).

local due = KEYS[1]
local max, lease, delivery_prefix, subs_prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local now = now_ms()
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, max)) do
  local record = redis.call('HMGET', delivery_prefix .. id .. '}', 'doc', 'body', 'tenant', 'sub')
  if not record[1] then
    redis.call('ZREM', due, id)
  else
    redis.call('ZADD', due, 'XX', now + lease, id)
    local subscription = false
    if record[4] and record[4] ~= '' and record[3] then
      subscription = redis.call('HGET', subs_prefix .. record[3] .. '}', record[4])
    end
    table.insert(claimed, id)
    table.insert(claimed, record[1])
    table.insert(claimed, record[2] or '')
    table.insert(claimed, subscription)
  end
end
return claimed
