--[[
  Record a complete, durable upload as the client's committed update.

  Input:
    KEYS[1] round meta hash
    KEYS[2] round clients hash (clientId -> updateId)
    KEYS[3] the client's update hash
    KEYS[4] round commit log (list)

    ARGV[1] updateId
    ARGV[2] clientId
    ARGV[3] sha256 (hex)
    ARGV[4] ciphertext count
    ARGV[5] name of the update's ciphertext object (already durable in the ciphertext store)

  Output, one of:
    {'EXISTS', sha256, count, committedAt}  this client already committed this update id (idempotent retry)
    {'CLIENT_HAS_UPDATE', otherUpdateId}    this client committed another update to the round
    {'NOT_FOUND'} | {'NOT_OPEN', state}
    {'PAST_DEADLINE', closedAt}             Redis's clock is at or past the round's deadline: nothing
                                            committed, and the round is CLOSED now (it may need finalizing)
    {'COMMITTED', committedAt, closedNow}   closedNow = '1' when this commit reached max clients

  Times are Redis's clock (TIME), ms. Rounds without a `deadlineAt` field
  (created before it existed) are not checked against their deadline here.
  Idempotency: the clients hash is the single record of what was committed;
  the same (client, updateId) never commits twice. A committed update's object
  name is appended to the commit log in the same step: the log is what range
  folds read (range-progress.ts), and it only grows while the round is OPEN.
]]
--- @include "includes/redisNow"
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
