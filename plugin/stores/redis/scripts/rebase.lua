-- The store went back in time (docs/ARCHITECTURE.md#the-fault-model): every named task is
-- first seen at ARGV[1] (lastOccurrence and attempt kept), its pending retry dropped, and
-- the fencing counter raised to at least ARGV[2], so no token is handed out twice.
-- KEYS first, last, retry, token; ARGV firstSeen, fence, names...
-- -> { firstSeen, last|nil, retry|nil, ... } as ensure-tasks.lua
local out = {}
for i = 3, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[i])
  out[#out + 1] = ARGV[1]
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i])
  out[#out + 1] = false
end
if tonumber(redis.call('GET', KEYS[4]) or '0') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[4], ARGV[2])
end
return out
