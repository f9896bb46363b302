-- Revokes an API key: deletes its record and its id from the set of keys and, when there was
-- a key, announces the revocation so every api process ends what the key opened. One script,
-- so a revocation is never done without being announced.
--
-- KEYS: 1 the key's hash, 2 the set of every key's id
-- ARGV: 1 the key id, 2 signal channel, 3 signal envelope
-- Returns 1, or 0 when there was no such key.

if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.call('SREM', KEYS[2], ARGV[1])
publish(ARGV[2], ARGV[3])
return 1
