-- Keeps a lease alive: checks the job is still at the version its worker last wrote, resets
-- the idle time of the queue entry (the lease) and reports whether a cancel was requested.
--
-- KEYS: 1 job hash, 2 queue stream
-- ARGV: 1 expected seq, 2 consumer group, 3 worker, 4 queue entry
-- Returns -1 when the lease is lost, else 1 with a cancel request pending, 0 without.

local job = redis.call('HMGET', KEYS[1], 'seq', 'cancel')
if job[1] ~= ARGV[1] then
  return -1
end
-- FORCE: should the group have lost the entry from its pending list (recreated after a data
-- loss), this puts it back under this worker, so the lease can again be reclaimed if the
-- worker dies. pcall: with the group itself gone, the `seq` check above is what counts.
redis.pcall('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, ARGV[4], 'JUSTID', 'FORCE')
if job[2] then
  return 1
end
return 0
