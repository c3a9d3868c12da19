-- KEYS tick, retry, token, buffered, pauses, backfills; ARGV at|''
-- -> { lastTick|nil, { task, retry, task, retry, ... }, fence, { task, occurrence, ... }, { task, pause, ... }, { backfill json, ... } }
-- The fencing counter rides along, so a store that went back in time is seen at every
-- heartbeat (docs/ARCHITECTURE.md#the-fault-model).
local last = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and (not last or tonumber(ARGV[1]) > tonumber(last)) then
  redis.call('SET', KEYS[1], ARGV[1])
  last = ARGV[1]
end
return { last, redis.call('HGETALL', KEYS[2]), tonumber(redis.call('GET', KEYS[3]) or '0'), redis.call('HGETALL', KEYS[4]), redis.call('HGETALL', KEYS[5]), redis.call('HVALS', KEYS[6]) }
