-- Adds requests to inbound sources' logs, each log kept to its newest entries. Concurrent
-- records share one call (see `batch`).
--
-- KEYS: 2 per request: its source's record, its source's log (a sorted set, every member
--       scored 0)
-- ARGV: 1 how many entries a log keeps (>= 1), then 1 per request: its member
--       ('<request id> <record JSON>')
-- Returns one reply per request: 1, or 0 when its source is gone (deleted while the request
-- was served: no log is made again for it).

local keep = tonumber(ARGV[1])
local head_args = 1
local replies, logs = {}, {}
for i = 1, #KEYS / 2 do
  local source, log = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', source) == 1 then
    redis.call('ZADD', log, 0, ARGV[head_args + i])
    logs[log] = true
    table.insert(replies, 1)
  else
    table.insert(replies, 0)
  end
end
-- Trimmed once per log, whatever it was sent.
for log in pairs(logs) do
  redis.call('ZREMRANGEBYRANK', log, 0, -1 - keep)
end
return replies
