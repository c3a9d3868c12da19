-- The final record, the lease released, the retry fenced (docs/ARCHITECTURE.md#late-results).
-- KEYS last, attempt, retry, lease owners, lease expiry, run prefix, task runs, all runs
-- ARGV id, task, startedAt, historyLimit, leaseKey|'', retry|'', forced '1'|'0',
--      scheduledFor, attempt, status, field, value, ...
local id, task = ARGV[1], ARGV[2]
local stored = redis.call('HGET', KEYS[6] .. id, 'status')
if not stored or not SETTLED[stored] then
  writeRun(KEYS[6], KEYS[7], KEYS[8], id, ARGV[3], { unpack(ARGV, 11) })
  prune(KEYS[6], KEYS[7], KEYS[8], tonumber(ARGV[4]))
end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[4], ARGV[5]) == id then
  redis.call('HDEL', KEYS[4], ARGV[5])
  redis.call('ZREM', KEYS[5], ARGV[5])
end
-- Only a scheduled run of the task's newest occurrence touches its retry: a result that
-- lands after a newer occurrence or a newer attempt was claimed changes nothing.
local last = redis.call('HGET', KEYS[1], task)
if ARGV[7] == '1' or not last or tonumber(last) ~= tonumber(ARGV[8]) then return 1 end
if ARGV[6] ~= '' and newestAttempt(KEYS[2], task, ARGV[9]) == tonumber(ARGV[9]) then
  redis.call('HSET', KEYS[3], task, ARGV[6])
end
if ARGV[10] == 'succeeded' then
  local pending = redis.call('HGET', KEYS[3], task)
  if pending and tonumber(string.match(pending, '^([^|]*)|')) == tonumber(ARGV[8]) then
    redis.call('HDEL', KEYS[3], task)
  end
end
return 1
