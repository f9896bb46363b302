-- Stores deliveries, due at once: each record with its retention, its place on the schedule,
-- and in its subscription's index (trimmed to the newest) or, for a job's own webhook, as
-- the job's webhook status. With an outbox entry, first acknowledges and deletes it, and
-- stores nothing when it was acknowledged already (another notifier expanded it after
-- reclaiming it): each entry is expanded exactly once.
--
-- KEYS: 1 outbox stream, 2 due zset, then two per delivery: its hash, and its subscription's
--       index or (a job's own webhook) the job hash
-- ARGV: 1 outbox entry id ('' = none: a replay), 2 consumer group, 3 retention (ms),
--       4 most deliveries listed per subscription, then ten per delivery: id, doc, body,
--       tenant, subscription id ('' = the job's own webhook), state, attempt count,
--       '1' to schedule it ('' not), job webhook status JSON ('' for a subscription's),
--       event seq
-- Returns 1, or 0 when the entry was acknowledged already.

local outbox, due = KEYS[1], KEYS[2]
local entry, group, retention, listed_max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local per = 10

if entry ~= '' then
  -- pcall: a group lost with Redis's data (NOGROUP) no longer holds the entry either; a
  -- recreated group delivers what the stream still has again.
  local acked = redis.pcall('XACK', outbox, group, entry)
  if type(acked) ~= 'number' or acked == 0 then
    return 0
  end
  redis.call('XDEL', outbox, entry)
end

local now = now_ms()
for i = 0, (#ARGV - 4) / per - 1 do
  local a = 5 + i * per
  local delivery, target = KEYS[3 + i * 2], KEYS[4 + i * 2]
  local id, doc, body, tenant, sub, state, n, scheduled, status, seq = ARGV[a], ARGV[a + 1],
    ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8],
    ARGV[a + 9]
  redis.call('HSET', delivery, 'doc', doc, 'body', body, 'tenant', tenant, 'sub', sub,
    'state', state, 'n', n)
  redis.call('PEXPIRE', delivery, retention)
  if scheduled == '1' then
    redis.call('ZADD', due, now, id)
  end
  if sub ~= '' then
    redis.call('ZADD', target, 0, id)
    redis.call('ZREMRANGEBYRANK', target, 0, -(listed_max + 1))
    redis.call('PEXPIRE', target, retention)
  else
    set_hook_state(target, status, seq)
  end
end
return 1
