-- KEYS owners, expiry, run prefix; ARGV now, reason -> { row, row, ... } of the runs abandoned
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  local owner = redis.call('HGET', KEYS[1], key)
  redis.call('HDEL', KEYS[1], key)
  redis.call('ZREM', KEYS[2], key)
  if owner and abandon(KEYS[3], owner, ARGV[1], ARGV[2]) then out[#out + 1] = readRun(KEYS[3], owner) end
end
return out
