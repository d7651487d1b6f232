--[[
  Give up ownership of a range (shutdown, round finished).

  Input:
    KEYS[1] range hash
    ARGV[1] owner id
    ARGV[2] fence

  Output: 1 if released, 0 if it was not ours (nothing changes).
  Idempotent.
]]
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'owner', '', 'leaseUntil', 0)
return 1
