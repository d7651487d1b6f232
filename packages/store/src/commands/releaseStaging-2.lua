--[[
  Give back one upload's staged-bytes reservation (staging-budget.ts).

  Input:
    KEYS[1] budget hash
    KEYS[2] expiry zset
    ARGV[1] stagingId
    ARGV[2] now (ms): expired reservations are pruned first

  Output: the bytes released (0 if it was not held).
  Idempotent.
]]
--- @include "includes/pruneStaging"
prune(tonumber(ARGV[2]))
return drop(ARGV[1])
