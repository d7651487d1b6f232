/**
 * The global budget of staged (unfinished) upload bytes in Redis, shared by
 * every gateway on the same Redis and key prefix.
 *
 * Each upload reserves its whole size once its header is checked, before a
 * chunk is read, and gives it back when its staging list is committed
 * (renamed into the update) or discarded. A reservation carries an expiry
 * that always outlives its staging list's TTL, so the reservation of an
 * upload whose gateway was killed is reclaimed after that expiry, just as
 * Redis drops the orphaned list: the budget can leak for a while after a
 * crash, never for good, and never lets the staged bytes exceed the limit.
 *
 * Keys (outside any round's hash slot: the budget is cluster-wide; one tag
 * keeps both in one slot, as a script touching both needs on a Redis Cluster):
 *   <p>:{<p>:gw}:staged       hash  '_total' -> reserved bytes; <stagingId> -> bytes
 *   <p>:{<p>:gw}:staged:exp   zset  stagingId -> expiry (ms)
 */
import type { Cluster, Redis, Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    secaggReserveStaging(...args: (string | number)[]): Result<[number, number], Context>;
    secaggReleaseStaging(...args: (string | number)[]): Result<number, Context>;
  }
}

/**
 * Drops expired reservations (at most 64 per call, so a call stays short).
 * Shared head of both scripts; KEYS[1] hash, KEYS[2] expiry zset, `now` in ms.
 */
const PRUNE = `
local function prune(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(expired) do
    local bytes = redis.call('HGET', KEYS[1], id)
    if bytes then
      redis.call('HDEL', KEYS[1], id)
      redis.call('HINCRBY', KEYS[1], '_total', -tonumber(bytes))
    end
    redis.call('ZREM', KEYS[2], id)
  end
end
`;

/**
 * reserve-staging: reserve (or keep alive) the bytes of one upload.
 *   KEYS[1] budget hash  KEYS[2] expiry zset
 *   ARGV[1] stagingId  ARGV[2] bytes  ARGV[3] limit (bytes)  ARGV[4] now (ms)  ARGV[5] expiry (ms)
 * Returns {1, total} when the reservation is held (new, or already held: its
 * expiry is moved), {0, total} when it would exceed the limit (nothing written).
 * Idempotent per stagingId.
 */
const RESERVE = `${PRUNE}
prune(tonumber(ARGV[4]))
local total = tonumber(redis.call('HGET', KEYS[1], '_total') or '0')
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
  return {1, total}
end
local bytes = tonumber(ARGV[2])
if total + bytes > tonumber(ARGV[3]) then return {0, total} end
redis.call('HSET', KEYS[1], ARGV[1], bytes)
total = redis.call('HINCRBY', KEYS[1], '_total', bytes)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
return {1, total}
`;

/**
 * release-staging: give back one upload's reservation.
 *   KEYS[1] budget hash  KEYS[2] expiry zset   ARGV[1] stagingId  ARGV[2] now (ms)
 * Returns the bytes released (0 if it was not held). Idempotent.
 */
const RELEASE = `${PRUNE}
prune(tonumber(ARGV[2]))
local bytes = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not bytes then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], '_total', -tonumber(bytes))
return tonumber(bytes)
`;

export class StagingBudget {
  private readonly hashKey: string;
  private readonly expiryKey: string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    /** The limit, bytes. */
    readonly maxBytes: number,
  ) {
    this.hashKey = `${prefix}:{${prefix}:gw}:staged`;
    this.expiryKey = `${prefix}:{${prefix}:gw}:staged:exp`;
    redis.defineCommand('secaggReserveStaging', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('secaggReleaseStaging', { numberOfKeys: 2, lua: RELEASE });
  }

  /** Reserves `bytes` for `stagingId` until `expiresMs`; false when the budget cannot take it now. */
  async tryReserve(stagingId: string, bytes: number, nowMs: number, expiresMs: number): Promise<boolean> {
    const [held] = await this.redis.secaggReserveStaging(this.hashKey, this.expiryKey, stagingId, bytes, this.maxBytes, nowMs, expiresMs);
    return held === 1;
  }

  /** Moves the expiry of a held reservation (a no-op write when it is not held: it is then re-made, within the limit). */
  async keepAlive(stagingId: string, bytes: number, nowMs: number, expiresMs: number): Promise<boolean> {
    return this.tryReserve(stagingId, bytes, nowMs, expiresMs);
  }

  async release(stagingId: string, nowMs: number): Promise<number> {
    return this.redis.secaggReleaseStaging(this.hashKey, this.expiryKey, stagingId, nowMs);
  }

  /** Bytes reserved now (expired reservations included until the next call prunes them). */
  async reservedBytes(): Promise<number> {
    return Number((await this.redis.hget(this.hashKey, '_total')) ?? 0);
  }
}
