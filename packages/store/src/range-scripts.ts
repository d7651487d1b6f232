/**
 * Lua scripts of the range folds (issue 11): which aggregator owns which
 * range of a round's ciphertext indexes, and how far each range's durable
 * checkpoint has folded the round's commit log. Same conventions as
 * scripts.ts: contract at the top, every key of one round's hash tag, and
 * time from Redis's own clock (TIME), so aggregators' clocks never matter.
 *
 * A range hash holds: owner, fence (incremented at every acquisition),
 * leaseUntil (ms, Redis clock), folded (updates of the log folded into the
 * checkpoint: a prefix length), checkpoint (object name, '' for none).
 */

/**
 * acquire-range: take range ownership if it is free, expired, or already ours.
 *   KEYS[1] range hash
 *   ARGV[1] owner id  ARGV[2] lease (ms)
 * Returns {fence, folded, checkpoint, leaseUntil} or {} when another owner's
 * lease is live. Every acquisition gets a new fence, so the writes of a
 * previous holder (same owner id included, e.g. a restarted process) are refused.
 */
export const ACQUIRE_RANGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = redis.call('HGET', KEYS[1], 'owner')
local leaseUntil = tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0')
if owner and owner ~= '' and owner ~= ARGV[1] and leaseUntil > now then return {} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
local lease_end = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'leaseUntil', lease_end)
local folded = redis.call('HGET', KEYS[1], 'folded') or '0'
local checkpoint = redis.call('HGET', KEYS[1], 'checkpoint') or ''
return {fence, folded, checkpoint, lease_end}
`;

/**
 * renew-range: extend our lease.
 *   KEYS[1] range hash
 *   ARGV[1] owner id  ARGV[2] fence  ARGV[3] lease (ms)
 * Returns the new leaseUntil, or 0 if the range is no longer ours (expired
 * and taken, or released).
 */
export const RENEW_RANGE = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local lease_end = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'leaseUntil', lease_end)
return lease_end
`;

/**
 * release-range: give ownership up (shutdown, round finished).
 *   KEYS[1] range hash
 *   ARGV[1] owner id  ARGV[2] fence
 * Returns 1 if released, 0 if it was not ours.
 */
export const RELEASE_RANGE = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'owner', '', 'leaseUntil', 0)
return 1
`;

/**
 * checkpoint-range: record a durable checkpoint of the range.
 *   KEYS[1] range hash
 *   ARGV[1] owner id  ARGV[2] fence  ARGV[3] folded (prefix length of the log)  ARGV[4] checkpoint object name
 * Returns {'OK', previous checkpoint name} (the caller may delete the previous
 * object), {'STALE', folded} when the recorded checkpoint is already at or
 * past this one (nothing changes), or {'LOST'} when the range is not ours.
 * Any checkpoint of n updates is exactly the range's sum of the log's first n
 * entries, so refusing a stale or foreign one only avoids going backwards.
 */
export const CHECKPOINT_RANGE = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then return {'LOST'} end
local folded = tonumber(redis.call('HGET', KEYS[1], 'folded') or '0')
if tonumber(ARGV[3]) <= folded then return {'STALE', tostring(folded)} end
local previous = redis.call('HGET', KEYS[1], 'checkpoint') or ''
redis.call('HSET', KEYS[1], 'folded', ARGV[3], 'checkpoint', ARGV[4])
return {'OK', previous}
`;
