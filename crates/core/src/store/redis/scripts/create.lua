-- Stores new jobs, each all or nothing as far as its own checks go: idempotency, queue bound,
-- record (with its own webhook, payload and first history entry), the tenant's feed, queue
-- entry, listing index, the webhook outbox (when some target wants the event) and the
-- published event. Concurrent submissions share one call (see `batch`); each job gets its
-- own reply, in order.
--
-- KEYS: 1 webhook outbox stream, then 7 per job: its idempotency key (its job hash again
--       without one), job hash, tenant's feed stream, the id of the tenant's newest feed
--       entry, queue stream, the tenant's index of pending jobs, tenant's wants counters
-- ARGV: 1 idempotency ttl (ms), 2 job key prefix, 3 feed max (>= 1), 4 max queue length,
--       5 consumer group, 6 signal channel, 7 outbox max (>= 1), 8 how long the feed keeps
--       events (ms), then 13 per job: id, '1' with an idempotency key, idempotency value
--       ('<id> <fingerprint>'), fingerprint, seq, payload, event json (its snapshot is the
--       job's record), tenant, the job's own webhook without its secret as JSON ('' = none),
--       the event types it wants (',<type>,<type>,'), event type, job type, the secret of the
--       job's own webhook
-- Returns one reply per job: {'created'} | {'replayed', last event, hook_events, hook_state}
-- ('' when absent) | {'mismatch'} | {'full'}.

local outbox = KEYS[1]
local idem_ttl, job_prefix, feed_max, max_queue, group, channel, outbox_max, feed_keep =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local per_keys, per_args, head_args = 7, 13, 8

-- Each queue met: how many of its jobs wait (counted once, then kept up to date) and whether
-- the count leaves out the running jobs' entries yet.
local queues = {}

local function create(k, a)
  local idem, job, feed, feed_last, queue, index, wants = KEYS[k], KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6]
  local id, has_idem, idem_value, fingerprint, seq, body, event, tenant = ARGV[a],
    ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local hook, hook_events, event_type, job_type, hook_secret = ARGV[a + 8], ARGV[a + 9],
    ARGV[a + 10], ARGV[a + 11], ARGV[a + 12]

  if has_idem == '1' then
    local existing = redis.call('GET', idem)
    if existing then
      local sep = string.find(existing, ' ', 1, true)
      if sep then
        local earlier = redis.call('HMGET', job_prefix .. string.sub(existing, 1, sep - 1),
          'last', 'hook_events', 'hook_state')
        -- A key whose job has expired no longer protects anything: the submission is new.
        if earlier[1] then
          if string.sub(existing, sep + 1) ~= fingerprint then
            return {'mismatch'}
          end
          return {'replayed', earlier[1], earlier[2] or '', earlier[3] or ''}
        end
      end
    end
  end

  -- The bound counts jobs waiting in line: entries not yet handed to a worker (the stream
  -- also holds the entries of running jobs, which sit in the group's pending list; they are
  -- only counted out once the stream looks full). Retries waiting for their delay were
  -- admitted once already and do not count.
  local q = queues[queue]
  if q == nil then
    local length = redis.call('XLEN', queue)
    if length == 0 then
      ensure_group(queue, group)
    end
    q = {count = length, exact = false}
    queues[queue] = q
  end
  if q.count >= max_queue and not q.exact then
    q.exact = true
    local summary = redis.pcall('XPENDING', queue, group)
    if type(summary) == 'table' and summary.err == nil then
      q.count = q.count - tonumber(summary[1])
    end
  end
  if q.count >= max_queue then
    return {'full'}
  end
  q.count = q.count + 1

  if has_idem == '1' then
    redis.call('SET', idem, idem_value, 'PX', idem_ttl)
  end
  local entry = redis.call('XADD', queue, '*', 'job', id)
  if hook ~= '' then
    redis.call('HSET', job, 'last', event, 'seq', seq, 'tenant', tenant, 'status', 'pending',
      'entry', entry, 'payload', body, 'event:' .. seq, event, 'hook', hook,
      'hook_secret', hook_secret, 'hook_events', hook_events)
  else
    redis.call('HSET', job, 'last', event, 'seq', seq, 'tenant', tenant, 'status', 'pending',
      'entry', entry, 'payload', body, 'event:' .. seq, event)
  end
  local cursor = append_to_feed(feed, feed_last, feed_max, event)
  redis.call('ZADD', index, 0, id)
  if hook_wants(hook_events, event_type) or subscribed(wants, event_type, job_type) then
    append_to_outbox(outbox, outbox_max, tenant, event, hook)
  end
  publish_event(cursor, event)
  return {'created'}
end

local replies = {}
for i = 0, (#ARGV - head_args) / per_args - 1 do
  table.insert(replies, create(2 + i * per_keys, head_args + 1 + i * per_args))
end
close_feeds(feed_keep)
publish_events(channel)
return replies
