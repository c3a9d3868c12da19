-- Pause a task ('' for everything), keeping a pause already in force (docs/PAUSE.md).
-- KEYS pauses; ARGV field, pause json -> the pause json in force
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
