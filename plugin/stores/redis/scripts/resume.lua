-- Lift a pause and write the skipped records of occurrences owed during it, in one step
-- (docs/PAUSE.md). Each record claims its occurrence as start-run.lua does, if still owed.
-- KEYS pauses, first, last, attempt, retry, run prefix, all runs, task runs (one per record)
-- ARGV field, historyLimit, then per record: task, scheduledFor, id, startedAt, field count, fields...
-- -> the pause json lifted, or nil
local lifted = redis.call('HGET', KEYS[1], ARGV[1])
if not lifted then return nil end
redis.call('HDEL', KEYS[1], ARGV[1])
local limit = tonumber(ARGV[2])
local i, n = 3, 0
while i <= #ARGV do
  n = n + 1
  local task, at, id, startedAt, count = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local fields = { unpack(ARGV, i + 5, i + 4 + count) }
  i = i + 5 + count
  local first = redis.call('HGET', KEYS[2], task)
  local last = redis.call('HGET', KEYS[3], task)
  if first and at >= tonumber(first) and (not last or tonumber(last) < at) then
    redis.call('HSET', KEYS[3], task, string.format('%.0f', at))
    redis.call('HSET', KEYS[4], task, '1')
    redis.call('HDEL', KEYS[5], task)
    writeRun(KEYS[6], KEYS[7 + n], KEYS[7], id, startedAt, fields)
    prune(KEYS[6], KEYS[7 + n], KEYS[7], limit)
  end
end
return lifted
