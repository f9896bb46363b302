-- Moves retries whose delay has run out from the type's delayed set into its queue. One
-- script, so two workers maintaining at once cannot both move the same job.
--
-- KEYS: 1 delayed retries zset, 2 queue stream
-- ARGV: 1 how many at most, 2 consumer group, 3 job key prefix ('{<prefix>}:job:')
-- Returns how many jobs were moved.
--
-- The job hashes are addressed by names built here, not declared in KEYS: which jobs are due
-- is only known inside the script. They share the slot of the declared keys (see `keys`).

local delayed, queue = KEYS[1], KEYS[2]
local limit, group, job_prefix = ARGV[1], ARGV[2], ARGV[3]
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now_ms(), 'LIMIT', 0, limit)
-- Every job is read before anything is written: on a Redis Cluster whose slot is half-way
-- through a migration, reading a job hash that has moved already stops the script with an
-- error, and a script stopped after a write would keep that write (a retry taken out of the
-- delayed set and queued nowhere).
local states = {}
for i, id in ipairs(due) do
  states[i] = redis.call('HMGET', job_prefix .. id, 'status', 'entry')
end
local moved = 0
for i, id in ipairs(due) do
  redis.call('ZREM', delayed, id)
  -- Only a job still waiting for its retry: one canceled meanwhile, or gone, stays out.
  local state = states[i]
  if state[1] == 'pending' and (state[2] or '') == '' then
    ensure_group(queue, group)
    redis.call('HSET', job_prefix .. id, 'entry', redis.call('XADD', queue, '*', 'job', id))
    moved = moved + 1
  end
end
return moved
