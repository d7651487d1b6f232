/**
 * The global budget of staged (unfinished) upload bytes in Redis, shared by
 * every gateway on the same Redis and key prefix, with a cap per client.
 *
 * An upload reserves its bytes step by step as its chunks arrive (each call
 * raises its reservation to a new total), never more than it has staged plus
 * one step, so a slow upload holds what it sent rather than its whole size;
 * it gives them back when its staging list is committed (renamed into the
 * update) or discarded. One client (token subject) may hold at most
 * `maxBytesPerClient` across its uploads on every gateway. A reservation
 * carries an expiry that always outlives its staging list's TTL, so the
 * reservation of an upload whose gateway was killed is reclaimed after that
 * expiry, just as Redis drops the orphaned list: the budget can leak for a
 * while after a crash, never for good, and never lets the staged bytes exceed
 * the limit.
 *
 * Keys (outside any round's hash slot: the budget is cluster-wide; one tag
 * keeps both in one slot, as a script touching both needs on a Redis Cluster):
 *   <p>:{<p>:gw}:staged       hash  '_total' -> reserved bytes; <stagingId> -> bytes;
 *                                   <stagingId>:c -> its client; c:<client> -> that client's bytes
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
local function drop(id)
  local bytes = redis.call('HGET', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  if not bytes then return 0 end
  bytes = tonumber(bytes)
  redis.call('HDEL', KEYS[1], id)
  redis.call('HINCRBY', KEYS[1], '_total', -bytes)
  local client = redis.call('HGET', KEYS[1], id .. ':c')
  if client then
    redis.call('HDEL', KEYS[1], id .. ':c')
    if redis.call('HINCRBY', KEYS[1], 'c:' .. client, -bytes) <= 0 then redis.call('HDEL', KEYS[1], 'c:' .. client) end
  end
  return bytes
end
local function prune(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(expired) do drop(id) end
end
`;

/**
 * reserve-staging: raise (or keep alive) the reservation of one upload to a total.
 *   KEYS[1] budget hash  KEYS[2] expiry zset
 *   ARGV[1] stagingId  ARGV[2] bytes (the reservation's new total)  ARGV[3] limit (bytes)
 *   ARGV[4] now (ms)  ARGV[5] expiry (ms)  ARGV[6] client  ARGV[7] client limit (bytes)
 * Returns {1, total} when the reservation holds at least `bytes` (its expiry
 * moved), {0, total} when raising it would exceed the limit, {2, client's
 * bytes} when it would exceed the client's limit (nothing written on refusal).
 * Idempotent per (stagingId, bytes); a reservation never shrinks here.
 */
const RESERVE = `${PRUNE}
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
`;

/**
 * release-staging: give back one upload's reservation.
 *   KEYS[1] budget hash  KEYS[2] expiry zset   ARGV[1] stagingId  ARGV[2] now (ms)
 * Returns the bytes released (0 if it was not held). Idempotent.
 */
const RELEASE = `${PRUNE}
prune(tonumber(ARGV[2]))
return drop(ARGV[1])
`;

/** Outcome of a reservation: held, or which limit refused it. */
export type Reservation = 'held' | 'budget_full' | 'client_limit';

export class StagingBudget {
  private readonly hashKey: string;
  private readonly expiryKey: string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
    /** The limit, bytes. */
    readonly maxBytes: number,
    /** The most one client may hold, bytes. */
    readonly maxBytesPerClient: number,
  ) {
    this.hashKey = `${prefix}:{${prefix}:gw}:staged`;
    this.expiryKey = `${prefix}:{${prefix}:gw}:staged:exp`;
    redis.defineCommand('secaggReserveStaging', { numberOfKeys: 2, lua: RESERVE });
    redis.defineCommand('secaggReleaseStaging', { numberOfKeys: 2, lua: RELEASE });
  }

  /**
   * Raises the reservation of `stagingId` (an upload of `clientId`) to `bytes`
   * in total until `expiresMs`, or says which limit refuses that now.
   */
  async reserve(stagingId: string, clientId: string, bytes: number, nowMs: number, expiresMs: number): Promise<Reservation> {
    const [held] = await this.redis.secaggReserveStaging(
      this.hashKey,
      this.expiryKey,
      stagingId,
      bytes,
      this.maxBytes,
      nowMs,
      expiresMs,
      clientId,
      this.maxBytesPerClient,
    );
    return held === 1 ? 'held' : held === 2 ? 'client_limit' : 'budget_full';
  }

  async release(stagingId: string, nowMs: number): Promise<number> {
    return this.redis.secaggReleaseStaging(this.hashKey, this.expiryKey, stagingId, nowMs);
  }

  /** Bytes reserved now (expired reservations included until the next call prunes them). */
  async reservedBytes(): Promise<number> {
    return Number((await this.redis.hget(this.hashKey, '_total')) ?? 0);
  }

  /** Bytes `clientId` holds reserved now. */
  async clientBytes(clientId: string): Promise<number> {
    return Number((await this.redis.hget(this.hashKey, `c:${clientId}`)) ?? 0);
  }
}
