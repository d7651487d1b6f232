/**
 * Lua scripts: every state change of a round that must be atomic. Each states
 * its contract (keys, arguments, return) at the top, BullMQ style. All keys of
 * a script share the round's hash tag.
 */

/**
 * The current time by Redis's clock, ms (a Lua prelude). Every deadline
 * decision takes its time here, so one clock decides it whatever the clocks of
 * the gateways and aggregators say (issue 12 item 5). Allowed in scripts
 * because Redis 7 replicates (and writes to the AOF) a script's effects, not
 * the script.
 */
const REDIS_NOW_MS = `
local redisTime = redis.call('TIME')
local now = tonumber(redisTime[1]) * 1000 + math.floor(tonumber(redisTime[2]) / 1000)
local nowText = string.format('%d', now)
`;

/**
 * commit-update: record a complete, durable upload as the client's committed update.
 *   KEYS[1] meta  KEYS[2] clients  KEYS[3] update hash  KEYS[4] commit log
 *   ARGV[1] updateId  ARGV[2] clientId  ARGV[3] sha256 (hex)  ARGV[4] ciphertext count
 *   ARGV[5] name of the update's ciphertext object (already durable in the ciphertext store)
 * Returns one of:
 *   {'EXISTS', sha256, count, committedAt}   this client already committed this update id (idempotent retry)
 *   {'CLIENT_HAS_UPDATE', otherUpdateId}     this client committed another update to the round
 *   {'NOT_FOUND'} | {'NOT_OPEN', state}
 *   {'PAST_DEADLINE', closedAt}              Redis's clock is at or past the round's deadline: nothing
 *                                            committed, and the round is CLOSED now (it may need finalizing)
 *   {'COMMITTED', committedAt, closedNow}    closedNow = '1' when this commit reached max clients
 * Times are Redis's clock (TIME), ms. Rounds without a `deadlineAt` field (created
 * before it existed) are not checked against their deadline here.
 * Idempotency: the clients hash is the single record of what was committed; the
 * same (client, updateId) never commits twice. A committed update's object name is
 * appended to the commit log in the same step: the log is what range folds read
 * (range-progress.ts), and it only grows while the round is OPEN.
 */
export const COMMIT_UPDATE = REDIS_NOW_MS + `
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
  if existing == ARGV[1] then
    local u = redis.call('HMGET', KEYS[3], 'sha256', 'count', 'committedAt')
    return {'EXISTS', u[1], u[2], u[3]}
  end
  return {'CLIENT_HAS_UPDATE', existing}
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'NOT_FOUND'} end
if state ~= 'OPEN' then return {'NOT_OPEN', state} end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadlineAt') or '0') or 0
if deadline > 0 and now >= deadline then
  redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
  return {'PAST_DEADLINE', nowText}
end
redis.call('HSET', KEYS[3], 'updateId', ARGV[1], 'sha256', ARGV[3], 'count', ARGV[4], 'committedAt', nowText, 'object', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[5])
local committed = redis.call('HINCRBY', KEYS[1], 'committed', 1)
local closedNow = '0'
if committed >= tonumber(redis.call('HGET', KEYS[1], 'maxClients')) then
  redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
  closedNow = '1'
end
return {'COMMITTED', nowText, closedNow}
`;

/**
 * raise-folded: the round's `folded` counter (updates durably folded into every
 * range) only ever goes up, whatever order concurrent writers arrive in.
 *   KEYS[1] meta   ARGV[1] folded
 * Returns the counter afterwards.
 */
export const RAISE_FOLDED = `
local current = tonumber(redis.call('HGET', KEYS[1], 'folded') or '0')
local proposed = tonumber(ARGV[1])
if proposed > current then
  redis.call('HSET', KEYS[1], 'folded', ARGV[1])
  return proposed
end
return current
`;

/**
 * close-round: stop accepting updates.
 *   KEYS[1] meta   ARGV[1] 'request' (close now) | 'deadline' (close only if the deadline has passed)
 * Returns {state after the call ('' when the round does not exist), ms until the deadline}.
 * The second element is '0' except for a 'deadline' close of an OPEN round whose
 * deadline, by Redis's clock, is still ahead: then nothing changes. A round without
 * a `deadlineAt` field closes on 'deadline' at once (its close job was scheduled
 * for its deadline). Idempotent.
 */
export const CLOSE_ROUND = REDIS_NOW_MS + `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'', '0'} end
if state ~= 'OPEN' then return {state, '0'} end
if ARGV[1] == 'deadline' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadlineAt') or '0') or 0
  if now < deadline then return {'OPEN', string.format('%d', deadline - now)} end
end
redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
return {'CLOSED', '0'}
`;

/**
 * finish-round: the final transition, RELEASED (result stored) or FAILED (reason).
 *   KEYS[1] meta  KEYS[2] result header
 *   ARGV[1] 'RELEASED' | 'FAILED'  ARGV[2] now (ms)  ARGV[3] result header bytes or failure reason
 * Returns the state after the call. Only an OPEN or CLOSED round changes (RELEASED
 * only from CLOSED); a finished round is returned unchanged (idempotent).
 */
export const FINISH_ROUND = `
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
`;

/**
 * release-group-claim: undo a privacy-group claim whose action was then refused.
 *   KEYS[1] group owners hash
 *   ARGV[1] privacy group  ARGV[2] subject that claimed it
 * Returns 1 if the claim was the subject's and is gone, 0 otherwise (another
 * coordinator's claim is never removed). Idempotent.
 */
export const RELEASE_GROUP_CLAIM = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`;
