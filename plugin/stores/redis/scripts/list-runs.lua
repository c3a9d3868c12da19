-- KEYS all runs, run prefix; ARGV offset, limit, taskCount, tasks..., statuses...
-- -> { total, row, row, ... }. Without filters it pages the sorted set directly; with
-- filters it walks it newest first (history is bounded by historyLimit per task).
local offset, limit, taskCount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tasks, statuses, filtered = nil, nil, false
if taskCount >= 0 then
  tasks, filtered = {}, true
  for i = 4, 3 + taskCount do tasks[ARGV[i]] = true end
end
if #ARGV > 3 + math.max(taskCount, 0) then
  statuses, filtered = {}, true
  for i = 4 + math.max(taskCount, 0), #ARGV do statuses[ARGV[i]] = true end
end
local out = { 0 }
if not filtered then
  out[1] = redis.call('ZCARD', KEYS[1])
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], offset, offset + limit - 1)) do
      local row = readRun(KEYS[2], id)
      if row then out[#out + 1] = row end
    end
  end
  return out
end
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local taskAndStatus = redis.call('HMGET', KEYS[2] .. id, 'task', 'status')
  if taskAndStatus[1] and (not tasks or tasks[taskAndStatus[1]]) and (not statuses or statuses[taskAndStatus[2]]) then
    out[1] = out[1] + 1
    if out[1] > offset and #out - 1 < limit then out[#out + 1] = readRun(KEYS[2], id) end
  end
end
return out
