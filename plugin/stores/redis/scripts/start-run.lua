-- One atomic step: claim, lease, record (docs/ARCHITECTURE.md#the-store-contract).
-- KEYS first, last, retry, lease owners, lease expiry, token, run prefix, task runs, all runs, attempt,
--      buffered, superseded
-- ARGV claim, task, scheduledFor, attempt, leaseKey|'', expiresAt, now, historyLimit, id,
--      startedAt, takeover reason, overlap ('bufferOne'|'cancelOther'|''), buffered reason, field, value, ...
-- -> { 'stale' } | { 'claimed' } | { 'recorded' } | { 'overlap', holder } | { 'buffered', holder }
--    | { 'busy', holder } | { 'started', token, abandoned? }
-- Overlap policies (docs/OVERLAP.md): `buffered` is a hash task -> the buffered occurrence;
-- `superseded` a hash lease key -> the run id superseded (a later holder is never mistaken for it).

-- The same start again (a command resent after its reply was lost): answer what it got.
local mine = redis.call('HMGET', KEYS[7] .. ARGV[9], 'status', 'leaseToken')
if mine[1] == 'running' and mine[2] and redis.call('HGET', KEYS[4], ARGV[5]) == ARGV[9] then
  return { 'started', tonumber(mine[2]) }
end
local claim, task, at = ARGV[1], ARGV[2], tonumber(ARGV[3])
if claim == 'occurrence' then
  local first = redis.call('HGET', KEYS[1], task)
  if not first or at < tonumber(first) then return { 'stale' } end
  local last = redis.call('HGET', KEYS[2], task)
  if last and tonumber(last) >= at then return { 'claimed' } end
elseif claim == 'buffer' then
  if tonumber(redis.call('HGET', KEYS[11], task)) ~= at then return { 'claimed' } end
  local holder = redis.call('HGET', KEYS[4], ARGV[5])
  if holder then
    local expiresAt = tonumber(redis.call('ZSCORE', KEYS[5], ARGV[5]))
    if expiresAt and expiresAt > tonumber(ARGV[7]) then return { 'busy', holder } end
  end
  redis.call('HDEL', KEYS[11], task)
elseif claim == 'retry' then
  if redis.call('HEXISTS', KEYS[1], task) == 0 then return { 'stale' } end
  local pending = redis.call('HGET', KEYS[3], task)
  if not pending then return { 'claimed' } end
  local of, attempt = string.match(pending, '^([^|]*)|([^|]*)|')
  if tonumber(of) ~= at or tonumber(attempt) ~= tonumber(ARGV[4]) then return { 'claimed' } end
end
-- The claim is made whatever happens next: an occurrence skipped for overlap is spent. The
-- attempt claimed is kept beside it, so that only the newest attempt's result may arm or
-- clear a retry (docs/ARCHITECTURE.md#late-results).
if claim == 'occurrence' then
  redis.call('HSET', KEYS[2], task, ARGV[3])
  redis.call('HSET', KEYS[10], task, '1')
  redis.call('HDEL', KEYS[3], task)
elseif claim == 'retry' then
  redis.call('HSET', KEYS[10], task, ARGV[4])
  redis.call('HDEL', KEYS[3], task)
end
local id, leaseKey, limit = ARGV[9], ARGV[5], tonumber(ARGV[8])
-- The record's fields; HSET lets a later pair override an earlier one of the same field.
local fields = { unpack(ARGV, 14) }
local function record (...)
  for _, value in ipairs({ ... }) do fields[#fields + 1] = value end
  writeRun(KEYS[7], KEYS[8], KEYS[9], id, ARGV[10], fields)
  prune(KEYS[7], KEYS[8], KEYS[9], limit)
end
if leaseKey == '' then
  record()
  return { 'recorded' }
end
local holder = redis.call('HGET', KEYS[4], leaseKey)
if holder then
  local expiresAt = tonumber(redis.call('ZSCORE', KEYS[5], leaseKey))
  if expiresAt and expiresAt > tonumber(ARGV[7]) then
    if ARGV[12] ~= '' and claim == 'occurrence' and redis.call('HSETNX', KEYS[11], task, ARGV[3]) == 1 then
      if ARGV[12] == 'cancelOther' then redis.call('HSET', KEYS[12], leaseKey, holder) end
      record('status', 'skipped', 'finishedAt', ARGV[10], 'durationMs', '0', 'error', ARGV[13])
      return { 'buffered', holder }
    end
    record('status', 'skipped', 'finishedAt', ARGV[10], 'durationMs', '0', 'error', 'overlap')
    return { 'overlap', holder }
  end
end
local abandoned = holder and abandon(KEYS[7], holder, ARGV[7], ARGV[11])
redis.call('HSET', KEYS[4], leaseKey, id)
redis.call('ZADD', KEYS[5], ARGV[6], leaseKey)
local token = redis.call('INCR', KEYS[6])
record('leaseToken', token)
if abandoned then return { 'started', token, holder } end
return { 'started', token }
