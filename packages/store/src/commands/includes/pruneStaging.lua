--[[
  Shared head of the staging-budget scripts (KEYS[1] budget hash, KEYS[2]
  expiry zset): `drop(id)` gives one reservation back and returns its bytes
  (0 if it was not held); `prune(now)` drops reservations expired at `now`
  (ms), at most 64 per call, so a call stays short.
]]
local function drop(id)
  local bytes = redis.call('HGET', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if not bytes then return 0 end
  bytes = tonumber(bytes)
  redis.call('HDEL', KEYS[1], id)
  redis.call('HINCRBY', KEYS[1], '_total', -bytes)
  local client = redis.call('HGET', KEYS[1], id .. ':c')
  if client then
    redis.call('HDEL', KEYS[1], id .. ':c')
    if redis.call('HINCRBY', KEYS[1], 'c:' .. client, -bytes) <= 0 then redis.call('HDEL', KEYS[1], 'c:' .. client) end
  end
  return bytes
end
local function prune(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(expired) do drop(id) end
end
