-- Deletes the consumers of a queue's group that hold nothing and have been idle for long:
-- every worker process names a new consumer, and the group would otherwise keep them all.
-- In a script, so a consumer cannot take an entry between the check and the deletion (which
-- would drop that entry from the pending list).
--
-- KEYS: 1 queue stream
-- ARGV: 1 consumer group, 2 minimum idle time (ms)
-- Returns how many consumers were deleted.

local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(consumers) ~= 'table' or consumers.err then
  return 0
end
local min_idle = tonumber(ARGV[2])
local deleted = 0
for _, consumer in ipairs(consumers) do
  local fields = {}
  for i = 1, #consumer, 2 do
    fields[consumer[i]] = consumer[i + 1]
  end
  if fields['pending'] == 0 and tonumber(fields['idle']) >= min_idle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], fields['name'])
    deleted = deleted + 1
  end
end
return deleted
