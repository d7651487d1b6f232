--[[
  Undo a privacy-group claim whose action was then refused.

  Input:
    KEYS[1] group owners hash
    ARGV[1] privacy group
    ARGV[2] subject that claimed it

  Output: 1 if the claim was the subject's and is gone, 0 otherwise (another
    coordinator's claim is never removed).
  Idempotent.
]]
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
