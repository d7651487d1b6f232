--[[
  Extend our lease of a range.

  Input:
    KEYS[1] range hash
    ARGV[1] owner id
    ARGV[2] fence
    ARGV[3] lease (ms)

  Output: the new leaseUntil (ms, Redis's clock), or 0 if the range is no
    longer ours (expired and taken, or released): nothing changes then.
]]
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return 0 end
--- @include "includes/redisNow"
local lease_end = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'leaseUntil', lease_end)
return lease_end
