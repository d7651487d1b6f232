--[[
  The final transition of a round: RELEASED (result recorded) or FAILED (reason).

  A release's noisy sum is not in Redis: the aggregator wrote it to the
  ciphertext store first (durably: fdatasync / a completed PUT), and this
  script records which object it is, with its SHA-256 and length, together
  with the result header and the state, in one step. Several attempts may have
  written objects (a retry after a crash, a stalled job run twice): the first
  to record wins, and the caller keeps only the recorded object.

  Input:
    KEYS[1] round meta hash
    KEYS[2] round result header (string)
    KEYS[3] round result object (hash: name, sha256, bytes)

    ARGV[1] 'RELEASED' | 'FAILED'
    ARGV[2] now (ms)
    ARGV[3] result header bytes (RELEASED) or failure reason (FAILED)
    ARGV[4] RELEASED: the result object's name in the ciphertext store
    ARGV[5] RELEASED: its SHA-256, lower-case hex
    ARGV[6] RELEASED: its length in bytes

  Output: { state after the call ('' when the round does not exist),
            name of the recorded result object ('' unless RELEASED) }.
    Only an OPEN or CLOSED round changes (RELEASED only from CLOSED); a
    finished round is returned unchanged, with the object recorded earlier.
  Idempotent.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return { '', '' } end
if state == 'RELEASED' or state == 'FAILED' then
  return { state, redis.call('HGET', KEYS[3], 'name') or '' }
end
if ARGV[1] == 'RELEASED' then
  if state ~= 'CLOSED' then return { state, '' } end
  redis.call('SET', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[3], 'name', ARGV[4], 'sha256', ARGV[5], 'bytes', ARGV[6])
  redis.call('HSET', KEYS[1], 'state', 'RELEASED', 'finishedAt', ARGV[2])
  return { 'RELEASED', ARGV[4] }
end
if state == 'OPEN' then redis.call('HSET', KEYS[1], 'closedAt', ARGV[2]) end
redis.call('HSET', KEYS[1], 'state', 'FAILED', 'finishedAt', ARGV[2], 'reason', ARGV[3])
return { 'FAILED', '' }
