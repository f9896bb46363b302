-- Applies one change of a job computed by the state machine in Rust, if and only if the job
-- is still at the version the change was computed from (compare-and-set on `seq`). Record,
-- history, the tenant's feed, queue side effects, indexes, expiry, the webhook outbox (when
-- the job's own webhook or an enabled subscription of its tenant wants the event) and the
-- published event move together. Nothing here parses JSON: Rust passes every value ready to
-- store.
--
-- KEYS: 1 job hash, 2 history stream, 3 tenant's feed stream, 4 cancel flag, 5 payload,
--       6 result hash, 7 queue stream, 8 delayed retries zset, 9 expiring zset,
--       10 old status index, 11 new status index, 12 old status+type index,
--       13 new status+type index, 14 webhook outbox stream, 15 tenant's wants counters,
--       16 the set of active external queues, 17 the id of the tenant's newest feed entry,
--       18 the bodies of the job's webhook deliveries
-- ARGV: 1 expected seq, 2 new seq, 3 new doc, 4 new status, 5 event json, 6 job id,
--       7 history max, 8 feed max (>= 1), 9 signal channel, 10 consumer group,
--       11 queue entry the job must hold ('' = any), 12 queue action: keep | drop | requeue |
--       delay, 13 delay (ms), 14 retention (ms; '0' unless the job becomes terminal),
--       15 expiring member, 16 result content type ('' = no result), 17 result body,
--       18 '1' if the status changes, 19 event type, 20 job type, 21 tenant,
--       22 outbox max (>= 1), 23 the queue's member of the active external queues ('' for
--       a shared queue), 24 how long the feed keeps events (ms)
-- Returns 1, or 0 when the job moved on (or vanished) since the change was computed.

local job, hist, feed, cancel_flag, payload, result, queue, delayed, expiring = KEYS[1],
  KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local expected, seq, doc, status, event, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[6]
local history_max, feed_max, channel = ARGV[7], ARGV[8], ARGV[9]
local group, expect_entry, action, delay_ms, retention_ms, expiring_member = ARGV[10],
  ARGV[11], ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14]), ARGV[15]
local result_type, result_body, status_changed = ARGV[16], ARGV[17], ARGV[18]
local event_type, job_type, tenant, outbox_max = ARGV[19], ARGV[20], ARGV[21], ARGV[22]
local active_member = ARGV[23]

-- One read for the guard, the queue entry and whether the job has its own webhook.
local current = redis.call('HMGET', job, 'seq', 'entry', 'hook_events')
if current[1] ~= expected then
  return 0
end
local entry = current[2] or ''
local hook_events = current[3]
if expect_entry ~= '' and entry ~= expect_entry then
  return 0
end

-- First the write that could be refused (an id not above the stream's last): if it fails,
-- nothing else has been written.
redis.call('XADD', hist, 'MAXLEN', '=', history_max, seq .. '-0', 'event', event)
redis.call('HSET', job, 'doc', doc, 'seq', seq, 'status', status)
-- Webhook bodies are kept for the events the history keeps: the one that just left it goes.
-- Only a job with that many events pays for it.
local left_history = tonumber(seq) - tonumber(history_max)
if left_history > 0 then
  redis.call('HDEL', KEYS[18], string.format('%d', left_history))
end
local cursor = append_to_feed(feed, KEYS[17], feed_max, ARGV[24], event)

if action ~= 'keep' then
  drop_entry(queue, group, entry)
  redis.call('ZREM', delayed, id)
  entry = ''
  if action == 'requeue' then
    ensure_group(queue, group)
    entry = redis.call('XADD', queue, '*', 'job', id)
  elseif action == 'delay' then
    redis.call('ZADD', delayed, now_ms() + delay_ms, id)
  end
  redis.call('HSET', job, 'entry', entry)
end

-- An external queue that now holds a lease (the job starts) or a delayed retry needs the
-- external maintenance to visit it: it reclaims leases and promotes retries only there.
if active_member ~= '' and (action == 'delay' or (status == 'processing' and status_changed == '1')) then
  redis.call('SADD', KEYS[16], active_member)
end

if status_changed == '1' then
  redis.call('ZREM', KEYS[10], id)
  redis.call('ZREM', KEYS[12], id)
  redis.call('ZADD', KEYS[11], 0, id)
  redis.call('ZADD', KEYS[13], 0, id)
end

if result_type ~= '' then
  redis.call('HSET', result, 'content_type', result_type, 'body', result_body)
end

if retention_ms > 0 then
  -- A finished job keeps its record (with its webhook's secret), history, payload, result and
  -- webhook bodies for the retention period; the expiring set lets maintenance drop it from
  -- the listing indexes at the same time.
  redis.call('DEL', cancel_flag)
  for _, key in ipairs({job, hist, payload, result, KEYS[18]}) do
    redis.call('PEXPIRE', key, retention_ms)
  end
  redis.call('ZADD', expiring, now_ms() + retention_ms, expiring_member)
end

if hook_wants(hook_events, event_type) or subscribed(KEYS[15], event_type, job_type) then
  -- The webhook itself (without its secret) only when the job has one: most jobs do not.
  local hook = hook_events and redis.call('HGET', job, 'hook')
  append_to_outbox(KEYS[14], outbox_max, tenant, event, hook)
end
publish_event(channel, cursor, event)
return 1
