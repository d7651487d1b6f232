--[[
  Raise (or keep alive) the staged-bytes reservation of one upload to a total
  (staging-budget.ts).

  Input:
    KEYS[1] budget hash ('_total' -> bytes; <stagingId> -> bytes;
            <stagingId>:c -> its client; c:<client> -> that client's bytes)
    KEYS[2] expiry zset (stagingId -> expiry ms)

    ARGV[1] stagingId
    ARGV[2] bytes (the reservation's new total)
    ARGV[3] limit (bytes, every upload together)
    ARGV[4] now (ms)
    ARGV[5] expiry (ms)
    ARGV[6] client
    ARGV[7] client limit (bytes)

  Output, one of:
    {1, total}         the reservation holds at least `bytes` (its expiry moved)
    {0, total}         raising it would exceed the limit
    {2, client bytes}  raising it would exceed the client's limit
  Nothing is written on refusal (expired reservations are pruned first, always).
  Idempotent per (stagingId, bytes); a reservation never shrinks here.
]]
--- @include "includes/pruneStaging"
prune(tonumber(ARGV[4]))
local total = tonumber(redis.call('HGET', KEYS[1], '_total') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local want = tonumber(ARGV[2])
if want <= held then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  return {1, total}
end
local more = want - held
if total + more > tonumber(ARGV[3]) then return {0, total} end
local clientKey = 'c:' .. ARGV[6]
local clientBytes = tonumber(redis.call('HGET', KEYS[1], clientKey) or '0')
if clientBytes + more > tonumber(ARGV[7]) then return {2, clientBytes} end
redis.call('HSET', KEYS[1], ARGV[1], want, ARGV[1] .. ':c', ARGV[6])
redis.call('HINCRBY', KEYS[1], clientKey, more)
total = redis.call('HINCRBY', KEYS[1], '_total', more)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return {1, total}
