-- Takes an external queue out of the set the external maintenance visits, once it holds no
-- lease (nothing in its group's pending list) and no delayed retry: nothing there can expire
-- or fall due. One script, so a claim cannot start a job between the check and the removal
-- unseen: the start of a job (transition.lua) adds the queue back after its entry became
-- pending.
--
-- KEYS: 1 the set of active external queues, 2 queue stream, 3 delayed retries zset
-- ARGV: 1 the queue's member of the set, 2 consumer group
-- Returns 1 when the queue was taken out, else 0.

local active, queue, delayed = KEYS[1], KEYS[2], KEYS[3]
local member, group = ARGV[1], ARGV[2]
if redis.call('ZCARD', delayed) > 0 then
  return 0
end
-- pcall: a queue without its stream or group (never claimed from, or lost with Redis's data)
-- holds no lease either.
local summary = redis.pcall('XPENDING', queue, group)
if type(summary) == 'table' and summary.err == nil and tonumber(summary[1]) > 0 then
  return 0
end
redis.call('SREM', active, member)
return 1
