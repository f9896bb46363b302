-- Records a delivery's new state, if no other attempt was recorded since the caller read it
-- (compare-and-set on the attempt count `n`): the record, its place on the schedule (or off
-- it) and, for a job's own webhook, the job's webhook status.
--
-- KEYS: 1 delivery hash, 2 due zset, 3 job hash
-- ARGV: 1 delivery id, 2 expected attempt count, 3 doc, 4 attempt count, 5 state,
--       6 when it is due: '' = off the schedule, 'now', or a time (ms),
--       7 job webhook status JSON ('' = a subscription's delivery), 8 event seq
-- Returns 1, or 0 when another attempt was recorded (or the delivery expired).

local delivery, due, job = KEYS[1], KEYS[2], KEYS[3]
local id, expected, doc, n, state, at, status, seq = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[5], ARGV[6], ARGV[7], ARGV[8]

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
