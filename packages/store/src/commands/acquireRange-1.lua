--[[
  Take ownership of a ciphertext range of a round's folds if it is free,
  expired, or already ours (range-progress.ts).

  Input:
    KEYS[1] range hash (owner, fence, leaseUntil, folded, checkpoint)
    ARGV[1] owner id
    ARGV[2] lease (ms)

  Output: {fence, folded, checkpoint, leaseUntil}, or {} when another owner's
    lease is live (nothing changes). Every acquisition gets a new fence, so the
    writes of a previous holder (same owner id included, e.g. a restarted
    process) are refused. Time is Redis's clock.
]]
--- @include "includes/redisNow"
local owner = redis.call('HGET', KEYS[1], 'owner')
local leaseUntil = tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0')
if owner and owner ~= '' and owner ~= ARGV[1] and leaseUntil > now then return {} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
local lease_end = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'leaseUntil', lease_end)
local folded = redis.call('HGET', KEYS[1], 'folded') or '0'
local checkpoint = redis.call('HGET', KEYS[1], 'checkpoint') or ''
return {fence, folded, checkpoint, lease_end}
