-- Helpers shared by Herald's scripts; prepended to each script that uses them.

-- The server's clock in milliseconds. Due times and expiry scores use it rather than the
-- caller's clock, so workers on hosts with skewed clocks still agree on what is due.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Creates the queue's consumer group when the stream does not exist yet (the first job of a
-- type, or a Redis that lost its data). From id 0, not `$`: every entry already in the stream
-- must still be delivered. A concurrent creator makes this fail with BUSYGROUP: harmless.
local function ensure_group(queue, group)
  if redis.call('EXISTS', queue) == 0 then
    redis.pcall('XGROUP', 'CREATE', queue, group, '0', 'MKSTREAM')
  end
end

-- Forgets a queue entry: out of the group's pending list and out of the stream, so the
-- stream only ever holds live work. pcall: XACK answers NOGROUP when the group was lost, and
-- a script must not stop half-way over that.
local function drop_entry(queue, group, entry)
  if entry and entry ~= '' then
    redis.pcall('XACK', queue, group, entry)
    redis.call('XDEL', queue, entry)
  end
end

-- Appends an event to its tenant's feed and returns the new entry's id: the event's cursor.
-- The entry records `prev`, the id of the entry appended before it, which `last` keeps (a
-- small key that outlives the feed). The feed keeps at most `max` entries (`MAXLEN ~`, at
-- least 1: never trimmed empty by a write) and none older than `keep_ms` (`MINID ~`), and
-- the whole stream expires once the tenant has been quiet for `keep_ms`. Whatever went, the
-- oldest entry kept names the newest one gone, and so does the first entry of a feed that
-- had expired: a reader can tell exactly whether it missed events (see `RedisStore::feed`).
local function append_to_feed(feed, last_key, max, keep_ms, event)
  local last = redis.call('GET', last_key)
  if not last then
    -- A feed written before `last` existed, or a tenant's first event.
    local newest = redis.call('XREVRANGE', feed, '+', '-', 'COUNT', 1)[1]
    last = newest and newest[1]
  end
  local id
  if last then
    id = redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event, 'prev', last)
  else
    id = redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event)
  end
  local oldest_kept = now_ms() - tonumber(keep_ms)
  if oldest_kept > 0 then
    redis.call('XTRIM', feed, 'MINID', '~', string.format('%d', oldest_kept))
  end
  redis.call('PEXPIRE', feed, keep_ms)
  redis.call('SET', last_key, id)
  return id
end

-- Publishes an event with its feed cursor: `{"entry":{"cursor":"<ms>-<n>","event":<event>}}`
-- (the shape `signals::Envelope` reads). Splicing, not encoding: the cursor is digits and a
-- dash, and the event is JSON already.
local function publish_event(channel, cursor, event)
  redis.call('PUBLISH', channel, '{"entry":{"cursor":"' .. cursor .. '","event":' .. event .. '}}')
end

-- Whether some enabled subscription of the tenant wants an event of `event_type` from a job
-- of `job_type`: its wants counters (see `keys`) for the type alone and for the pair. One
-- call, which is all a job without any webhook pays.
local function subscribed(wants, event_type, job_type)
  local counts = redis.call('HMGET', wants, event_type, event_type .. '/' .. job_type)
  return (tonumber(counts[1]) or 0) > 0 or (tonumber(counts[2]) or 0) > 0
end

-- Whether a job's own webhook wants the event: `hook_events` is ',<type>,<type>,' (or
-- false/'' without a webhook).
local function hook_wants(hook_events, event_type)
  return hook_events and hook_events ~= '' and
    string.find(hook_events, ',' .. event_type .. ',', 1, true) ~= nil
end

-- Writes an event some target wants to the webhook outbox, with the job's own webhook when
-- it has one (`hook` false or ''), capped with `MAXLEN ~`.
local function append_to_outbox(outbox, max, tenant, event, hook)
  if hook and hook ~= '' then
    redis.call('XADD', outbox, 'MAXLEN', '~', max, '*', 'tenant', tenant, 'event', event,
      'hook', hook)
  else
    redis.call('XADD', outbox, 'MAXLEN', '~', max, '*', 'tenant', tenant, 'event', event)
  end
end

-- Adds `delta` (1 or -1) to the wants counter of each field in `fields` (space-separated);
-- a counter that reaches 0 goes, so the hash only names what someone wants.
local function count_wants(wants, fields, delta)
  for field in string.gmatch(fields or '', '%S+') do
    if redis.call('HINCRBY', wants, field, delta) <= 0 then
      redis.call('HDEL', wants, field)
    end
  end
end

-- Shows a delivery's state as the job's webhook status, unless a delivery of a later event
-- has shown its own already (`seq` orders them), and never on a job that has expired: an
-- HSET would bring its hash back as a stray without a record.
local function set_hook_state(job, status, seq)
  if redis.call('EXISTS', job) == 0 then
    return
  end
  local shown = tonumber(redis.call('HGET', job, 'hook_seq') or '0') or 0
  if tonumber(seq) >= shown then
    redis.call('HSET', job, 'hook_state', status, 'hook_seq', seq)
  end
end
