-- KEYS schema; ARGV version -> the version stored before (0: none), raised to ARGV[1]
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if stored < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return stored
