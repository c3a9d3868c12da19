-- KEYS run prefix, task runs...; ARGV limit -> { { row, ... }, ... } in KEYS order
local out, limit = {}, tonumber(ARGV[1])
for i = 2, #KEYS do
  local rows = {}
  if limit > 0 then
    for _, id in ipairs(redis.call('ZREVRANGE', KEYS[i], 0, limit - 1)) do
      local row = readRun(KEYS[1], id)
      if row then rows[#rows + 1] = row end
    end
  end
  out[#out + 1] = rows
end
return out
