-- createBackfill (docs/PAYLOADS.md#backfills): the hash holds the backfills not finished, by
-- id, as JSON; one of the same task and range is answered as it is, else this one is stored.
-- KEYS backfills; ARGV id, task, from, to, json -> the stored JSON
for _, stored in ipairs(redis.call('HVALS', KEYS[1])) do
  local backfill = cjson.decode(stored)
  if backfill.task == ARGV[2] and backfill.from_ms == ARGV[3] and backfill.to_ms == ARGV[4] then return stored end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
return ARGV[5]
