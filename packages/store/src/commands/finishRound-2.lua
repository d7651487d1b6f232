--[[
  The final transition of a round: RELEASED (result stored) or FAILED (reason).

  Input:
    KEYS[1] round meta hash
    KEYS[2] round result header (string)

    ARGV[1] 'RELEASED' | 'FAILED'
    ARGV[2] now (ms)
    ARGV[3] result header bytes (RELEASED) or failure reason (FAILED)

  Output: the state after the call ('' when the round does not exist).
    Only an OPEN or CLOSED round changes (RELEASED only from CLOSED); a
    finished round is returned unchanged.
  Idempotent.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state == 'RELEASED' or state == 'FAILED' then return state end
if ARGV[1] == 'RELEASED' then
  if state ~= 'CLOSED' then return state end
  redis.call('SET', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'state', 'RELEASED', 'finishedAt', ARGV[2])
else
  if state == 'OPEN' then redis.call('HSET', KEYS[1], 'closedAt', ARGV[2]) end
  redis.call('HSET', KEYS[1], 'state', 'FAILED', 'finishedAt', ARGV[2], 'reason', ARGV[3])
end
return ARGV[1]
