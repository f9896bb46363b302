-- Asks the worker of a processing job to stop: raises the job's cancel flag (its hash's
-- `cancel`, read by the worker's heartbeat) and publishes the request (for a prompt stop).
-- The job itself does not change, so its `seq` stays.
--
-- The guard is the status, not the `seq`: a job reporting progress many times a second must
-- not make its cancel request lose every race.
--
-- KEYS: 1 job hash
-- ARGV: 1 signal channel, 2 signal envelope
-- Returns 1, or 0 when the job is no longer processing.

if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then
  return 0
end
redis.call('HSET', KEYS[1], 'cancel', '1')
publish(ARGV[1], ARGV[2])
return 1
