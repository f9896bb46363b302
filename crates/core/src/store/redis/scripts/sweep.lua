-- The finished jobs whose retention has run out, oldest first: the caller drops them from the
-- listing indexes and then from the expiring set, in one transaction. They are not taken off
-- here, so a caller failing half-way loses nothing; two workers sweeping at once merely
-- repeat idempotent removals.
--
-- KEYS: 1 expiring zset
-- ARGV: 1 how many at most
-- Returns the members due ('<tenant> <status> <id>').

return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, ARGV[1])
