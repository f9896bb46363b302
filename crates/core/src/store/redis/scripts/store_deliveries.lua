-- Stores deliveries, due at once: each record with its retention, its place on the schedule,
-- and in its subscription's index (trimmed to the newest) or, for a job's own webhook, as
-- the job's webhook status. The body a delivery sends is kept in its job's hash (`body:<seq>`),
-- once per event, while the job's history keeps that event, and expires with it (not at all
-- when the job has expired already, or its history has moved past the event: such a delivery
-- cannot be sent). The bodies come once each, ahead of the deliveries that name them: the
-- deliveries of one event share one. With an outbox entry, first acknowledges and deletes it,
-- and stores nothing when it was acknowledged already (another notifier expanded it after
-- reclaiming it): each entry is expanded exactly once.
--
-- KEYS: 1 outbox stream, 2 due zset, then three per delivery: its hash, its job's hash, and
--       its subscription's index (the job hash again for a job's own webhook)
-- ARGV: 1 outbox entry id ('' = none: a replay), 2 consumer group, 3 retention (ms),
--       4 most deliveries listed per subscription, 5 how many events a job's history keeps,
--       6 how many bodies (b), then the b bodies, then eleven per delivery: id, doc,
--       its body's number (1 to b), tenant, subscription id ('' = the job's own webhook),
--       state, attempt count, '1' to schedule it ('' not), job webhook status JSON ('' for a
--       subscription's), event seq, job id
-- Returns 1, or 0 when the entry was acknowledged already.

local outbox, due = KEYS[1], KEYS[2]
local entry, group, retention, listed_max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local history_max = tonumber(ARGV[5])
local bodies = tonumber(ARGV[6])
local first = 7 + bodies
local per = 11

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
-- Each body is written once, however many deliveries send it.
local written = {}
for i = 0, (#ARGV - first + 1) / per - 1 do
  local a = first + i * per
  local k = 3 + i * 3
  local delivery, job, index = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local id, doc, body, tenant, sub, state, n, scheduled, status, seq, job_id = ARGV[a],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7],
    ARGV[a + 8], ARGV[a + 9], ARGV[a + 10]
  redis.call('HSET', delivery, 'doc', doc, 'tenant', tenant, 'sub', sub, 'job', job_id,
    'seq', seq, 'state', state, 'n', n)
  redis.call('PEXPIRE', delivery, retention)
  if scheduled == '1' then
    redis.call('ZADD', due, now, id)
  end
  local field = job .. '\0' .. seq
  if not written[field] then
    written[field] = true
    -- A job that has expired has no seq, and its hash must not come back as a stray.
    local job_seq = tonumber(redis.call('HGET', job, 'seq') or '')
    if job_seq and tonumber(seq) > job_seq - history_max then
      redis.call('HSET', job, 'body:' .. seq, ARGV[6 + tonumber(body)])
    end
  end
  if sub ~= '' then
    redis.call('ZADD', index, 0, id)
    redis.call('ZREMRANGEBYRANK', index, 0, -(listed_max + 1))
    redis.call('PEXPIRE', index, retention)
  else
    set_hook_state(job, status, seq)
  end
end
return 1
