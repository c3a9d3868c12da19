-- KEYS first, last, retry; ARGV firstSeen, names... -> { firstSeen, last|nil, retry|nil, ... }
local out = {}
for i = 2, #ARGV do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1])
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i])
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[i])
  out[#out + 1] = redis.call('HGET', KEYS[3], ARGV[i])
end
return out
