-- The retry of a run the reaper abandoned, fenced like finish-run.lua's
-- (docs/ARCHITECTURE.md#late-results): set only while the record is still `abandoned` (no
-- late result replaced it), the run is scheduled, and it is the newest attempt of the task's
-- last occurrence.
-- KEYS last, attempt, retry, run prefix; ARGV id, task, scheduledFor, attempt, forced '1'|'0', retry
-- -> 1 set, 0 not
local task = ARGV[2]
if ARGV[5] == '1' or redis.call('HGET', KEYS[4] .. ARGV[1], 'status') ~= 'abandoned' then return 0 end
local last = redis.call('HGET', KEYS[1], task)
if not last or tonumber(last) ~= tonumber(ARGV[3]) then return 0 end
if newestAttempt(KEYS[2], task, ARGV[4]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[3], task, ARGV[6])
return 1
