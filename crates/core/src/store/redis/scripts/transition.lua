-- Applies changes of jobs computed by the state machine in Rust, each if and only if its job
-- is still at the version the change was computed from (compare-and-set on `seq`). For each:
-- record and history entry, the tenant's feed, queue side effects, the listing index, expiry,
-- the webhook outbox (when the job's own webhook or an enabled subscription of its tenant
-- wants the event) and the published event move together. Concurrent changes share one call
-- (see `batch`); each is checked and applied on its own, in order. Nothing here parses JSON:
-- Rust passes every value ready to store.
--
-- KEYS: 1 webhook outbox stream, 2 expiring zset, 3 the set of active external queues, then
--       8 per change: job hash, tenant's feed stream, the id of the tenant's newest feed
--       entry, queue stream, delayed retries zset, old status index, new status index,
--       tenant's wants counters
-- ARGV: 1 history max, 2 feed max (>= 1), 3 signal channel, 4 consumer group, 5 outbox max
--       (>= 1), 6 how long the feed keeps events (ms), then 17 per change: expected seq, new
--       seq, new status, event json (its snapshot is the job's new record), job id, queue entry the job must hold ('' =
--       any), queue action: keep | drop | requeue | delay, delay (ms), retention (ms; '0'
--       unless the job becomes terminal), expiring member (of a job becoming terminal, or of
--       the finished one a retry takes back), result content type ('' = no
--       result), result body, '1' if the status changes, event type, job type, tenant, the
--       queue's member of the active external queues ('' for a shared queue)
-- Returns one reply per change: 1, or 0 when its job moved on (or vanished) since the change
-- was computed.

local outbox, expiring, active = KEYS[1], KEYS[2], KEYS[3]
local history_max, feed_max, channel, group, outbox_max, feed_keep = tonumber(ARGV[1]),
  ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local per_keys, per_args, head_keys, head_args = 8, 17, 3, 6

local function apply(k, a)
  local job, feed, feed_last, queue, delayed, old_index, new_index, wants = KEYS[k],
    KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6], KEYS[k + 7]
  local expected, seq, status, event, id = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    ARGV[a + 4]
  local expect_entry, action, delay_ms, retention_ms, expiring_member = ARGV[a + 5],
    ARGV[a + 6], ARGV[a + 7], ARGV[a + 8], ARGV[a + 9]
  local result_type, result_body, status_changed = ARGV[a + 10], ARGV[a + 11], ARGV[a + 12]
  local event_type, job_type, tenant, active_member = ARGV[a + 13], ARGV[a + 14],
    ARGV[a + 15], ARGV[a + 16]

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

  local fields = {'last', event, 'seq', seq, 'status', status, 'event:' .. seq, event}
  if action ~= 'keep' then
    if entry ~= '' then
      drop_entry(queue, group, entry)
    else
      -- No entry: a retry waiting for its delay, if anything.
      redis.call('ZREM', delayed, id)
    end
    entry = ''
    if action == 'requeue' then
      ensure_group(queue, group)
      entry = redis.call('XADD', queue, '*', 'job', id)
    elseif action == 'delay' then
      redis.call('ZADD', delayed, now_ms() + tonumber(delay_ms), id)
    end
    table.insert(fields, 'entry')
    table.insert(fields, entry)
  end
  if result_type ~= '' then
    table.insert(fields, 'result_type')
    table.insert(fields, result_type)
    table.insert(fields, 'result')
    table.insert(fields, result_body)
  end
  redis.call('HSET', job, unpack(fields))
  -- The history keeps `history_max` events, and webhook bodies are kept for the events it
  -- keeps: the one that just left it goes. Only a job with that many events pays for it.
  local left_history = tonumber(seq) - history_max
  if left_history > 0 then
    redis.call('HDEL', job, 'event:' .. left_history, 'body:' .. left_history)
  end
  local cursor = append_to_feed(feed, feed_last, feed_max, event)

  -- An external queue that now holds a lease (the job starts) or a delayed retry needs the
  -- external maintenance to visit it: it reclaims leases and promotes retries only there.
  if active_member ~= '' and (action == 'delay' or (status == 'processing' and status_changed == '1')) then
    redis.call('SADD', active, active_member)
  end

  -- Pending and processing jobs share an index: only a job that finishes moves.
  if old_index ~= new_index then
    redis.call('ZREM', old_index, id)
    redis.call('ZADD', new_index, 0, id)
  end

  if retention_ms ~= '0' then
    -- A finished job keeps its record (with its history, payload, result, webhook secret and
    -- bodies) for the retention period; the expiring set lets maintenance drop it from the
    -- listing index at the same time.
    redis.call('PEXPIRE', job, retention_ms)
    redis.call('ZADD', expiring, now_ms() + tonumber(retention_ms), expiring_member)
  elseif old_index ~= new_index then
    -- A finished job retried by hand: kept again until it finishes, and asked to run anew.
    redis.call('PERSIST', job)
    redis.call('ZREM', expiring, expiring_member)
    redis.call('HDEL', job, 'cancel', 'result', 'result_type')
  end

  if hook_wants(hook_events, event_type) or subscribed(wants, event_type, job_type) then
    -- The webhook itself (without its secret) only when the job has one: most jobs do not.
    local hook = hook_events and redis.call('HGET', job, 'hook')
    append_to_outbox(outbox, outbox_max, tenant, event, hook)
  end
  publish_event(cursor, event)
  return 1
end

local replies = {}
for i = 0, (#ARGV - head_args) / per_args - 1 do
  table.insert(replies, apply(head_keys + 1 + i * per_keys, head_args + 1 + i * per_args))
end
close_feeds(feed_keep)
publish_events(channel)
return replies
