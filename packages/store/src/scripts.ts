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
 * commit-update: turn a complete staged stream into the client's committed update.
 *   KEYS[1] meta  KEYS[2] clients  KEYS[3] update hash  KEYS[4] staging list  KEYS[5] update data list
 *   ARGV[1] updateId  ARGV[2] clientId  ARGV[3] sha256 (hex)  ARGV[4] ciphertext count
 * Returns one of:
 *   {'EXISTS', sha256, count, committedAt}   this client already committed this update id (idempotent retry)
 *   {'CLIENT_HAS_UPDATE', otherUpdateId}     this client committed another update to the round
 *   {'NOT_FOUND'} | {'NOT_OPEN', state} | {'INCOMPLETE', stagedCount}
 *   {'PAST_DEADLINE', closedAt}              Redis's clock is at or past the round's deadline: nothing
 *                                            committed, and the round is CLOSED now (it may need finalizing)
 *   {'COMMITTED', committedAt, closedNow}    closedNow = '1' when this commit reached max clients
 * Times are Redis's clock (TIME), ms. Rounds without a `deadlineAt` field (created
 * before it existed) are not checked against their deadline here.
 * Idempotency: the clients hash is the single record of what was committed; the
 * same (client, updateId) never commits twice. The staging list is consumed
 * (renamed) or deleted, except on INCOMPLETE.
 */
export const COMMIT_UPDATE = REDIS_NOW_MS + `
local existing = redis.call('HGET', KEYS[2], ARGV[2])
if existing then
  redis.call('DEL', KEYS[4])
  if existing == ARGV[1] then
    local u = redis.call('HMGET', KEYS[3], 'sha256', 'count', 'committedAt')
    return {'EXISTS', u[1], u[2], u[3]}
  end
  return {'CLIENT_HAS_UPDATE', existing}
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('DEL', KEYS[4])
  return {'NOT_FOUND'}
end
if state ~= 'OPEN' then
  redis.call('DEL', KEYS[4])
  return {'NOT_OPEN', state}
end
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadlineAt') or '0') or 0
if deadline > 0 and now >= deadline then
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
  return {'PAST_DEADLINE', nowText}
end
local staged = redis.call('LLEN', KEYS[4])
if staged ~= tonumber(ARGV[4]) then
  return {'INCOMPLETE', tostring(staged)}
end
redis.call('RENAME', KEYS[4], KEYS[5])
redis.call('PERSIST', KEYS[5])
redis.call('HSET', KEYS[3], 'updateId', ARGV[1], 'sha256', ARGV[3], 'count', ARGV[4], 'committedAt', nowText)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
local committed = redis.call('HINCRBY', KEYS[1], 'committed', 1)
local closedNow = '0'
if committed >= tonumber(redis.call('HGET', KEYS[1], 'maxClients')) then
  redis.call('HSET', KEYS[1], 'state', 'CLOSED', 'closedAt', nowText)
  closedNow = '1'
end
return {'COMMITTED', nowText, closedNow}
`;

/**
 * fold-commit: replace partial sum k by (partial sum k + one update), exactly once.
 *   KEYS[1] meta  KEYS[2] folded set  KEYS[3] shard list  KEYS[4] shard version  KEYS[5] update data list
 *   KEYS[6] set of shard indexes in use
 *   ARGV[1] clientId  ARGV[2] expected shard version  ARGV[3] shard index  ARGV[4..] the new shard ciphertexts, index order
 * Returns 'FOLDED' | 'DUPLICATE' (already in some shard: nothing written) |
 *   'CONFLICT' (shard changed since it was read: re-read and retry) | 'ENDED' (round released or failed)
 * Exactly once: membership in the folded set and the shard content change in
 * one atomic step, so a retried or concurrent fold of the same update is a no-op.
 */
export const FOLD_COMMIT = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'OPEN' and state ~= 'CLOSED' then return 'ENDED' end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 'DUPLICATE' end
local version = redis.call('GET', KEYS[4]) or '0'
if version ~= ARGV[2] then return 'CONFLICT' end
redis.call('DEL', KEYS[3])
for i = 4, #ARGV, 64 do
  redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 63, #ARGV)))
end
redis.call('INCR', KEYS[4])
redis.call('SADD', KEYS[6], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'folded', 1)
redis.call('DEL', KEYS[5])
return 'FOLDED'
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
