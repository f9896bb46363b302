-- Stores a new job: idempotency, queue bound, record (with its own webhook), payload,
-- history, the tenant's feed, queue entry, listing indexes, the webhook outbox (when some
-- target wants the event) and the published event, all or nothing.
--
-- KEYS: 1 idempotency key (ignored unless ARGV[2] == '1'), 2 job hash, 3 payload,
--       4 history stream, 5 tenant's feed stream, 6 queue stream, 7 tenant's index of all
--       jobs, 8 pending index, 9 type index, 10 pending+type index, 11 webhook outbox stream,
--       12 tenant's wants counters, 13 the id of the tenant's newest feed entry
-- ARGV: 1 job id, 2 '1' with an idempotency key, 3 idempotency value ('<id> <fingerprint>'),
--       4 fingerprint, 5 idempotency ttl (ms), 6 job key prefix ('<prefix>:job:{'),
--       7 doc, 8 seq, 9 payload, 10 event json, 11 tenant, 12 history max, 13 feed max (>= 1),
--       14 max queue length, 15 consumer group, 16 signal channel, 17 status,
--       18 the job's own webhook without its secret, as JSON ('' = none), 19 the event types it wants
--       (',<type>,<type>,'), 20 event type, 21 job type, 22 outbox max (>= 1),
--       23 how long the feed keeps events (ms), 24 the secret of the job's own webhook
-- Returns {'created'} | {'replayed', doc, hook_events, hook_state} ('' when absent) |
-- {'mismatch'} | {'full'}.

local idem, job, payload, hist, feed, queue = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  KEYS[6]
local id, has_idem, idem_value, fingerprint, idem_ttl, job_prefix = ARGV[1], ARGV[2],
  ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local doc, seq, body, event, tenant = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local history_max, feed_max, max_queue, group, channel, status = ARGV[12], ARGV[13],
  tonumber(ARGV[14]), ARGV[15], ARGV[16], ARGV[17]
local hook, hook_events, event_type, job_type, outbox_max = ARGV[18], ARGV[19], ARGV[20],
  ARGV[21], ARGV[22]

if has_idem == '1' then
  local existing = redis.call('GET', idem)
  if existing then
    local sep = string.find(existing, ' ', 1, true)
    if sep then
      local earlier = redis.call('HMGET', job_prefix .. string.sub(existing, 1, sep - 1) .. '}',
        'doc', 'hook_events', 'hook_state')
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

-- The bound counts jobs waiting in line: entries not yet handed to a worker (the stream also
-- holds the entries of running jobs, which sit in the group's pending list). Retries waiting
-- for their delay were admitted once already and do not count.
local waiting = redis.call('XLEN', queue)
if waiting >= max_queue then
  local summary = redis.pcall('XPENDING', queue, group)
  if type(summary) == 'table' and summary.err == nil then
    waiting = waiting - tonumber(summary[1])
  end
  if waiting >= max_queue then
    return {'full'}
  end
end

if has_idem == '1' then
  redis.call('SET', idem, idem_value, 'PX', idem_ttl)
end

ensure_group(queue, group)
local entry = redis.call('XADD', queue, '*', 'job', id)
redis.call('HSET', job, 'doc', doc, 'seq', seq, 'tenant', tenant, 'status', status, 'entry', entry)
if hook ~= '' then
  redis.call('HSET', job, 'hook', hook, 'hook_secret', ARGV[24], 'hook_events', hook_events)
end
redis.call('SET', payload, body)
redis.call('XADD', hist, 'MAXLEN', '=', history_max, seq .. '-0', 'event', event)
local cursor = append_to_feed(feed, KEYS[13], feed_max, ARGV[23], event)
for i = 7, 10 do
  redis.call('ZADD', KEYS[i], 0, id)
end
if hook_wants(hook_events, event_type) or subscribed(KEYS[12], event_type, job_type) then
  append_to_outbox(KEYS[11], outbox_max, tenant, event, hook)
end
publish_event(channel, cursor, event)
return {'created'}
