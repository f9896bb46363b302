-- Adds requests to inbound sources' logs, each log kept to its newest entries. Concurrent
-- records share one call (see `batch`).
--
-- KEYS: 1 per request: its source's log (a sorted set, every member scored 0)
-- ARGV: 1 how many entries a log keeps (>= 1), then 1 per request: its member
--       ('<request id> <record JSON>')
-- Returns one reply per request: 1.

local keep = tonumber(ARGV[1])
local head_args = 1
local replies, logs = {}, {}
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 0, ARGV[head_args + i])
  logs[KEYS[i]] = true
  table.insert(replies, 1)
end
-- Trimmed once per log, whatever it was sent.
for log in pairs(logs) do
  redis.call('ZREMRANGEBYRANK', log, 0, -1 - keep)
end
return replies
