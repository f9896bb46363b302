-- Makes one partition's copy of a subscription what partition 0 holds (a store spread over
-- partitions keeps a copy in each, where the job scripts read the wants counters and the
-- delivery claims read the subscription), unless the copy is as new already: copies may be
-- written in any order, by the writer and by the repair, and the newest wins. A version is
-- the decimal string Rust wrote, or `d<version>` once deleted (newer than the same version
-- alive). Keeps the wants counters exact, as `put_subscription.lua` does.
--
-- KEYS: 1 tenant's subscriptions hash, 2 versions hash, 3 wanted hash, 4 wants counters,
--       5 failing endpoints hash
-- ARGV: 1 subscription id, 2 doc ('' when deleted), 3 version (as above; a deletion's
--       deletes, whatever the doc), 4 wants fields (space-separated; '' while disabled or
--       deleted)
-- Returns 1 when the copy changed, 0 when it was as new already.

local subs, versions, wanted, wants, failing = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, doc, version, fields = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

-- The version's number (a decimal string) and whether it is a deletion's.
local function parse(v)
  if string.sub(v, 1, 1) == 'd' then
    return string.sub(v, 2), 1
  end
  return v, 0
end

-- Whether version `a` is newer than version `b`: by number (compared as decimal strings:
-- longer is larger), then a deletion after the same version alive.
local function newer(a, b)
  local an, ad = parse(a)
  local bn, bd = parse(b)
  if #an ~= #bn then
    return #an > #bn
  end
  if an ~= bn then
    return an > bn
  end
  return ad > bd
end

local current = redis.call('HGET', versions, id)
if current and not newer(version, current) then
  return 0
end
count_wants(wants, redis.call('HGET', wanted, id), -1)
if doc == '' or string.sub(version, 1, 1) == 'd' then
  redis.call('HDEL', subs, id)
  redis.call('HDEL', wanted, id)
  redis.call('HDEL', failing, id)
else
  count_wants(wants, fields, 1)
  redis.call('HSET', subs, id, doc)
  redis.call('HSET', wanted, id, fields)
end
redis.call('HSET', versions, id, version)
return 1
