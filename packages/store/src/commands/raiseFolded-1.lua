--[[
  Raise the round's `folded` counter (updates durably folded into every
  range): it only ever goes up, whatever order concurrent writers arrive in.

  Input:
    KEYS[1] round meta hash
    ARGV[1] folded (proposed)

  Output: the counter afterwards (number).
  Idempotent.
]]
local current = tonumber(redis.call('HGET', KEYS[1], 'folded') or '0')
local proposed = tonumber(ARGV[1])
if proposed > current then
  redis.call('HSET', KEYS[1], 'folded', ARGV[1])
  return proposed
end
return current
