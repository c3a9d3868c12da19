-- KEYS owners, expiry; ARGV key, owner, expiresAt -> 1 renewed, 0 not held
-- An owner still named by the lease re-takes it, expired or not: nobody else took it.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
