-- startRun with claim 'backfill' (docs/PAYLOADS.md#backfills), one atomic step apart from
-- start-run.lua (which stays as it is): the backfill's cursor must be at the occurrence; an
-- occurrence that already has a run record that is not forced moves the cursor on (skipped);
-- a held lease writes nothing (busy); otherwise the lease, the token, the record, and the
-- cursor moves on (done). A finished backfill leaves the hash.
-- KEYS lease owners, lease expiry, token, run prefix, task runs, all runs, pauses, backfills
-- ARGV task, scheduledFor, leaseKey, expiresAt, now, historyLimit, id, startedAt,
--      takeover reason, backfill id, next occurrence|'', field, value, ...
-- -> { 'claimed' } | { 'busy', holder } | { 'started', token, abandoned? } | { 'paused', task|'', pause json }
-- A backfill is JSON with its instants as text (cjson would print large numbers in floating point).

-- The same start again (a command resent after its reply was lost): answer what it got.
local mine = redis.call('HMGET', KEYS[4] .. ARGV[7], 'status', 'leaseToken')
if mine[1] == 'running' and mine[2] and redis.call('HGET', KEYS[1], ARGV[3]) == ARGV[7] then
  return { 'started', tonumber(mine[2]) }
end
local task, at = ARGV[1], ARGV[2]
local everything = redis.call('HGET', KEYS[7], '')
if everything then return { 'paused', '', everything } end
local own = redis.call('HGET', KEYS[7], task)
if own then return { 'paused', task, own } end
local stored = redis.call('HGET', KEYS[8], ARGV[10])
if not stored then return { 'claimed' } end
local backfill = cjson.decode(stored)
if backfill.next_ms ~= at then return { 'claimed' } end
local function moveOn (counter)
  if ARGV[11] == '' then
    redis.call('HDEL', KEYS[8], ARGV[10])
  else
    backfill[counter] = tostring(tonumber(backfill[counter]) + 1)
    backfill.next_ms = ARGV[11]
    redis.call('HSET', KEYS[8], ARGV[10], cjson.encode(backfill))
  end
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  local run = redis.call('HMGET', KEYS[4] .. id, 'scheduledFor', 'forced')
  if run[1] == at and run[2] ~= '1' then
    moveOn('skipped')
    return { 'claimed' }
  end
end
local leaseKey = ARGV[3]
local holder = redis.call('HGET', KEYS[1], leaseKey)
if holder then
  local expiresAt = tonumber(redis.call('ZSCORE', KEYS[2], leaseKey))
  if expiresAt and expiresAt > tonumber(ARGV[5]) then return { 'busy', holder } end
end
local abandoned = holder and abandon(KEYS[4], holder, ARGV[5], ARGV[9])
redis.call('HSET', KEYS[1], leaseKey, ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[4], leaseKey)
local token = redis.call('INCR', KEYS[3])
local fields = { unpack(ARGV, 12) }
fields[#fields + 1] = 'leaseToken'
fields[#fields + 1] = token
writeRun(KEYS[4], KEYS[5], KEYS[6], ARGV[7], ARGV[8], fields)
prune(KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[6]))
moveOn('done')
if abandoned then return { 'started', token, holder } end
return { 'started', token }
