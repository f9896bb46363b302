-- Helpers shared by Herald's scripts; prepended to each script that uses them.

-- The server's clock in milliseconds, read once per call. Due times and expiry scores use it
-- rather than the caller's clock, so workers on hosts with skewed clocks still agree on what
-- is due.
local clock = nil
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
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

-- The feeds this call appends to, in the order first met: feed key → {last_key, last}. A
-- call reads a feed's newest id once and writes it back once (`close_feeds`), whatever the
-- number of events it appends.
local feeds, feed_order = {}, {}

-- Appends an event to its tenant's feed and returns the new entry's id: the event's cursor.
-- The entry records `prev`, the id of the entry appended before it, which `last_key` keeps (a
-- small key that outlives the feed). The feed keeps at most `max` entries (`MAXLEN ~`, at
-- least 1: never trimmed empty by a write); `close_feeds` trims it by age. Whatever went, the
-- oldest entry kept names the newest one gone, and so does the first entry of a feed that
-- had expired: a reader can tell exactly whether it missed events (see the store's `feed`).
local function append_to_feed(feed, last_key, max, event)
  local f = feeds[feed]
  if not f then
    f = {last_key = last_key, last = redis.call('GET', last_key)}
    feeds[feed] = f
    table.insert(feed_order, feed)
  end
  local id
  if f.last then
    id = redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event, 'prev', f.last)
  else
    id = redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event)
  end
  f.last = id
  return id
end

-- Finishes the feeds this call appended to, once each: records the newest id, trims entries
-- older than `keep_ms` (`MINID ~`), and makes the whole stream expire once the tenant has
-- been quiet for `keep_ms`.
local function close_feeds(keep_ms)
  local oldest_kept = now_ms() - tonumber(keep_ms)
  for _, feed in ipairs(feed_order) do
    local f = feeds[feed]
    redis.call('SET', f.last_key, f.last)
    if oldest_kept > 0 then
      redis.call('XTRIM', feed, 'MINID', '~', string.format('%d', oldest_kept))
    end
    redis.call('PEXPIRE', feed, keep_ms)
  end
end

-- What this call publishes, as the pieces of one message, `{"entries":[…]}` (the shape
-- `signals::Envelope` reads), each entry `{"cursor":"<ms>-<n>","event":<event>}`. Splicing,
-- not encoding: the cursor is digits and a dash, and the event is JSON already. The pieces
-- are joined once, in `publish_events`: every string Lua makes is hashed whole, so building
-- each entry apart would pay for its bytes twice.
local published = {}

local function publish_event(cursor, event)
  local n = #published
  published[n + 1] = n == 0 and '{"entries":[{"cursor":"' or ',{"cursor":"'
  published[n + 2] = cursor
  published[n + 3] = '","event":'
  published[n + 4] = event
  published[n + 5] = '}'
end

-- Publishes `message` on `channel`: the only place a script publishes, so that on a Redis
-- Cluster (where the store's scripts are this text with `SPUBLISH` here, see `scripts.rs`)
-- every message goes to the shard of the channel's slot.
local function publish(channel, message)
  redis.call('PUBLISH', channel, message)
end

-- Publishes this call's events in one message, if there are any.
local function publish_events(channel)
  if #published > 0 then
    published[#published + 1] = ']}'
    publish(channel, table.concat(published))
  end
end

-- What this call learnt of the tenants' wants counters: '<wants key> <field>' → count.
local wanted = {}

-- Whether some enabled subscription of the tenant wants an event of `event_type` from a job
-- of `job_type`: its wants counters (see `keys`) for the type alone and for the pair. One
-- call per tenant and pair, which is all a job without any webhook pays.
local function subscribed(wants, event_type, job_type)
  local pair = event_type .. '/' .. job_type
  local key = wants .. ' ' .. pair
  local count = wanted[key]
  if count == nil then
    local counts = redis.call('HMGET', wants, event_type, pair)
    count = (tonumber(counts[1]) or 0) + (tonumber(counts[2]) or 0)
    wanted[key] = count
  end
  return count > 0
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
  local shown = redis.call('HMGET', job, 'seq', 'hook_seq')
  if not shown[1] then
    return
  end
  if tonumber(seq) >= (tonumber(shown[2] or '0') or 0) then
    redis.call('HSET', job, 'hook_state', status, 'hook_seq', seq)
  end
end
