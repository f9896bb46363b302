-- Puts a pending job whose queue entry was read but never started (its claimer died, or read
-- more than it could take) back at the end of its queue as a fresh entry.
--
-- KEYS: 1 job hash, 2 queue stream
-- ARGV: 1 expected seq, 2 the entry to replace, 3 consumer group, 4 job id
-- Returns 1, or 0 when the job moved on or no longer holds that entry.

local job, queue = KEYS[1], KEYS[2]
local expected, old, group, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', job, 'seq') ~= expected or redis.call('HGET', job, 'entry') ~= old then
  return 0
end
drop_entry(queue, group, old)
ensure_group(queue, group)
redis.call('HSET', job, 'entry', redis.call('XADD', queue, '*', 'job', id))
return 1
