--[[
  The current time by Redis's clock, ms: sets `now` (number) and `nowText`
  (its decimal text). Every deadline decision takes its time here, so one
  clock decides it whatever the clocks of the gateways and aggregators say
  (issue 12 item 5). Allowed in scripts because Redis 7 replicates (and
  writes to the AOF) a script's effects, not the script.
]]
local redisTime = redis.call('TIME')
local now = tonumber(redisTime[1]) * 1000 + math.floor(tonumber(redisTime[2]) / 1000)
local nowText = string.format('%d', now)
