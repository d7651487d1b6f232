--[[
  Record a durable checkpoint of a range.

  Input:
    KEYS[1] range hash
    ARGV[1] owner id
    ARGV[2] fence
    ARGV[3] folded (prefix length of the commit log the checkpoint sums)
    ARGV[4] checkpoint object name

  Output, one of:
    {'OK', previous checkpoint name}  recorded (the caller may delete the previous object)
    {'STALE', folded}                 the recorded checkpoint is already at or past this one
    {'LOST'}                          the range is not ours
  Nothing changes unless 'OK'. Any checkpoint of n updates is exactly the
  range's sum of the log's first n entries, so refusing a stale or foreign one
  only avoids going backwards.
]]
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return {'LOST'} end
local folded = tonumber(redis.call('HGET', KEYS[1], 'folded') or '0')
if tonumber(ARGV[3]) <= folded then return {'STALE', tostring(folded)} end
local previous = redis.call('HGET', KEYS[1], 'checkpoint') or ''
redis.call('HSET', KEYS[1], 'folded', ARGV[3], 'checkpoint', ARGV[4])
return {'OK', previous}
