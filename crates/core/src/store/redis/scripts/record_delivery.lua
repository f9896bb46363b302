-- Records deliveries' new states, each if no other attempt was recorded since the caller read
-- it (compare-and-set on the attempt count `n`): the record, its place on the schedule (or off
-- it) and, for a job's own webhook, the job's webhook status. Concurrent records share one
-- call (see `batch`); each is checked and written on its own, in order.
--
-- KEYS: 1 due zset, then 2 per delivery: its hash, its job's hash
-- ARGV: 8 per delivery: delivery id, expected attempt count, doc, attempt count, state,
--       when it is due: '' = off the schedule, 'now', or a time (ms),
--       job webhook status JSON ('' = a subscription's delivery), event seq
-- Returns one reply per delivery: 1, or 0 when another attempt was recorded (or the
-- delivery expired).

local due = KEYS[1]
local per_keys, per_args = 2, 8

local function record(k, a)
  local delivery, job = KEYS[k], KEYS[k + 1]
  local id, expected, doc, n, state, at, status, seq = ARGV[a], ARGV[a + 1], ARGV[a + 2],
    ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  if redis.call('HGET', delivery, 'n') ~= expected then
    return 0
  end
  redis.call('HSET', delivery, 'doc', doc, 'n', n, 'state', state)
  if at == '' then
    redis.call('ZREM', due, id)
  elseif at == 'now' then
    redis.call('ZADD', due, now_ms(), id)
  else
    redis.call('ZADD', due, at, id)
  end
  if status ~= '' then
    set_hook_state(job, status, seq)
  end
  return 1
end

local replies = {}
for i = 0, #ARGV / per_args - 1 do
  table.insert(replies, record(2 + i * per_keys, 1 + i * per_args))
end
return replies
