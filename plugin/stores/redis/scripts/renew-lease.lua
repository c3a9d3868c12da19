-- KEYS owners, expiry, superseded; ARGV key, owner, expiresAt -> 1 renewed, 0 not held, 2 renewed but superseded
-- An owner still named by the lease re-takes it, expired or not: nobody else took it.
-- Superseded (overlap: 'cancelOther', docs/OVERLAP.md): the run is to stop; it keeps the lease until it has.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then return 2 end
return 1
