-- Helpers every script that reaches run hashes shares (prepended to it at load, after a
-- header that defines RUN_FIELDS and SETTLED from the TypeScript lists). `runPrefix` is the
-- `run:` key prefix, `taskRuns` / `allRuns` the two sorted sets. See
-- docs/ARCHITECTURE.md#the-store-contract.
local function readRun (runPrefix, id)
  local row = redis.call('HMGET', runPrefix .. id, unpack(RUN_FIELDS))
  if not row[1] then return nil end
  return row
end
local function writeRun (runPrefix, taskRuns, allRuns, id, startedAt, fields)
  redis.call('DEL', runPrefix .. id)
  redis.call('HSET', runPrefix .. id, unpack(fields))
  redis.call('ZADD', taskRuns, startedAt, id)
  redis.call('ZADD', allRuns, startedAt, id)
end
local function prune (runPrefix, taskRuns, allRuns, historyLimit)
  for _, id in ipairs(redis.call('ZREVRANGE', taskRuns, historyLimit, -1)) do
    if redis.call('HGET', runPrefix .. id, 'status') ~= 'running' then
      redis.call('DEL', runPrefix .. id)
      redis.call('ZREM', taskRuns, id)
      redis.call('ZREM', allRuns, id)
    end
  end
end
local function abandon (runPrefix, id, now, reason)
  local run = redis.call('HMGET', runPrefix .. id, 'status', 'startedAt')
  if run[1] ~= 'running' then return false end
  local duration = math.max(0, tonumber(now) - tonumber(run[2]))
  redis.call('HSET', runPrefix .. id, 'status', 'abandoned', 'finishedAt', now,
    'durationMs', string.format('%.0f', duration), 'error', reason)
  return true
end
-- The attempt of the newest claim of `task`'s last occurrence, or `attempt` when unknown
-- (rows written before the attempt hash existed pass the fence: the legacy behaviour).
local function newestAttempt (attemptKey, task, attempt)
  local stored = redis.call('HGET', attemptKey, task)
  if stored then return tonumber(stored) end
  return tonumber(attempt)
end
