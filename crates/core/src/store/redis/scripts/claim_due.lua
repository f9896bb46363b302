-- Takes up to `max` deliveries that are due, leasing each: its due time moves to the end of
-- the lease, so no other claim returns it until the lease runs out (or an attempt is
-- recorded). A delivery whose record expired leaves the schedule. Each comes with what is
-- kept with its job: the body it sends and, for a job's own webhook, the secret that signs
-- it; neither once the job has expired. A body or subscription already in the reply (the
-- deliveries of one event, or to one subscription) is not sent again: the later delivery
-- names the earlier one's place instead.
--
-- KEYS: 1 due zset
-- ARGV: 1 how many at most, 2 lease (ms), 3 delivery key prefix ('{<prefix>}:delivery:'),
--       4 subscriptions key prefix ('{<prefix>}:subs:'), 5 job key prefix ('{<prefix>}:job:')
-- Returns a flat list, five per delivery: id, doc, body (nil once its job has expired), the
-- subscription's doc (nil for a job's own webhook, or when the subscription is gone), the job's
-- webhook secret (nil for a subscription's delivery, or once the job has expired). A body or
-- subscription given as an integer is the one of the delivery at that place (from 0).
--
-- The delivery, job and subscription hashes are addressed by names built here: which
-- deliveries are due is only known inside the script (as in promote.lua); they share the slot
-- of the declared keys (see `keys`).

local due = KEYS[1]
local max, lease, delivery_prefix, subs_prefix, job_prefix = ARGV[1], tonumber(ARGV[2]),
  ARGV[3], ARGV[4], ARGV[5]

local now = now_ms()
local claimed = {}
-- Each event's job record as read, and where in the reply each subscription and each
-- event's body first appear.
local kept_of, subs_at, kept_at = {}, {}, {}
local place = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, max)) do
  local record = redis.call('HMGET', delivery_prefix .. id, 'doc', 'tenant', 'sub', 'job',
    'seq')
  if not record[1] then
    redis.call('ZREM', due, id)
  else
    redis.call('ZADD', due, 'XX', now + lease, id)
    local subscription = false
    if record[3] and record[3] ~= '' and record[2] then
      local name = record[2] .. '\0' .. record[3]
      subscription = subs_at[name]
      if not subscription then
        subscription = redis.call('HGET', subs_prefix .. record[2], record[3])
        if subscription then
          subs_at[name] = place
        end
      end
    end
    local body, secret = false, false
    if record[4] and record[5] then
      local name = record[4] .. '\0' .. record[5]
      local kept = kept_of[name]
      if not kept then
        kept = redis.call('HMGET', job_prefix .. record[4], 'tenant', 'hook_secret',
          'body:' .. record[5])
        kept_of[name] = kept
      end
      if kept[1] and kept[1] == record[2] then
        if kept[3] then
          body = kept_at[name]
          if not body then
            body = kept[3]
            kept_at[name] = place
          end
        end
        if record[3] == '' then
          secret = kept[2]
        end
      end
    end
    table.insert(claimed, id)
    table.insert(claimed, record[1])
    table.insert(claimed, body)
    table.insert(claimed, subscription)
    table.insert(claimed, secret)
    place = place + 1
  end
end
return claimed
