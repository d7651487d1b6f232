--[[
  Stop accepting updates.

  Input:
    KEYS[1] round meta hash
    ARGV[1] 'request' (close now) | 'deadline' (close only if the deadline has passed)

  Output: {state after the call ('' when the round does not exist), ms until the deadline}.
    The second element is '0' except for a 'deadline' close of an OPEN round
    whose deadline, by Redis's clock, is still ahead: then nothing changes. A
    round without a `deadlineAt` field closes on 'deadline' at once (its close
    job was scheduled for its deadline).
  Idempotent.
]]
--- @include "includes/redisNow"
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'', '0'} end
if state ~= 'OPEN' then return {state, '0'} end
if ARGV[1] == 'deadline' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadlineAt') or '0') or 0
  if now < deadline then return {'OPEN', string.format('%d', deadline - now)} end
end
redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
return {'CLOSED', '0'}
