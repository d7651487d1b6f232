--[[
  Record a client's Poisson sampling draw for a round, unless one is recorded
  already (docs/PRIVACY.md, "Sampling"): the first draw wins a race between
  two gateways, and a retry or a reconnect gets the same answer.

  Input:
    KEYS[1] round sampling hash (clientId -> '1' admitted | '0' not)
    ARGV[1] clientId
    ARGV[2] this caller's draw, '1' | '0'
    ARGV[3] when the decisions expire (ms since the epoch)

  Output: the decision that stands, '1' | '0'.
  Idempotent: only the first call per (round, client) writes the decision;
  every call moves the hash's expiry to ARGV[3].
]]
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], ARGV[1])
