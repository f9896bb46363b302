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
-- The entry records `prev`, the id of the entry before it, so that once `MAXLEN ~` has
-- trimmed the oldest entries, the oldest kept one names the newest trimmed one and a reader
-- can tell exactly whether it missed events (see `RedisStore::feed`). `max` is at least 1,
-- so the stream is never trimmed empty and `prev` never skips an entry.
local function append_to_feed(feed, max, event)
  local last = redis.call('XREVRANGE', feed, '+', '-', 'COUNT', 1)[1]
  if last then
    return redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event, 'prev', last[1])
  end
  return redis.call('XADD', feed, 'MAXLEN', '~', max, '*', 'event', event)
end

-- Publishes an event with its feed cursor: `{"entry":{"cursor":"<ms>-<n>","event":<event>}}`
-- (the shape `signals::Envelope` reads). Splicing, not encoding: the cursor is digits and a
-- dash, and the event is JSON already.
local function publish_event(channel, cursor, event)
  redis.call('PUBLISH', channel, '{"entry":{"cursor":"' .. cursor .. '","event":' .. event .. '}}')
end
