/**
 * The gateways' budget of staged (unfinished) upload bytes in Redis, shared
 * by every gateway on the same Redis and key prefix, with a share per client.
 * The limits are the gateway's (its config, upload-admission.ts); this class
 * keeps the books (keys.ts stagingBudgetKeys, commands/reserveStaging-2.lua
 * and releaseStaging-2.lua).
 *
 * An upload reserves its whole size when it is admitted (a call raises its
 * reservation to a total; a later call with the same total only moves its
 * expiry) and gives it back when it is committed or discarded. A reservation carries an expiry that the gateway
 * keeps beyond its staged data's lifetime, so the reservation of an upload
 * whose gateway was killed is reclaimed after that expiry: the budget can
 * leak for a while after a crash, never for good, and never lets the staged
 * bytes exceed the limit.
 */
import type { Cluster, Redis } from 'ioredis';
import { stagingBudgetKeys } from './keys.js';
import { StoreScripts } from './scripts.js';

/** Outcome of a reservation: held, or which limit refused it. */
export type Reservation = 'held' | 'budget_full' | 'client_limit';

export interface ReservationRequest {
  /** The upload's staging id (one reservation per upload). */
  stagingId: string;
  /** The uploading client (token subject): its share is capped. */
  clientId: string;
  /** The reservation's new total, bytes. */
  bytes: number;
  /** The most every upload together may hold, bytes. */
  maxBytes: number;
  /** The most one client may hold across its uploads, bytes. */
  maxBytesPerClient: number;
  /** Now, ms (expired reservations are pruned against it). */
  nowMs: number;
  /** When this reservation expires unless renewed, ms. */
  expiresMs: number;
}

export class StagingBudget {
  private readonly keys: { budget: string; expiry: string };
  private readonly scripts: StoreScripts;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.keys = stagingBudgetKeys(prefix);
    this.scripts = new StoreScripts(redis);
  }

  /** Raises the reservation of an upload to `bytes` in total (and moves its expiry), or says which limit refuses that now. */
  async reserve(request: ReservationRequest): Promise<Reservation> {
    const { stagingId, clientId, bytes, maxBytes, maxBytesPerClient, nowMs, expiresMs } = request;
    const [held] = await this.scripts.run<[number, number]>(
      'reserveStaging',
      [this.keys.budget, this.keys.expiry],
      [stagingId, bytes, maxBytes, nowMs, expiresMs, clientId, maxBytesPerClient],
    );
    return held === 1 ? 'held' : held === 2 ? 'client_limit' : 'budget_full';
  }

  /** Gives an upload's reservation back; returns the bytes released (0 if none was held). Idempotent. */
  async release(stagingId: string, nowMs: number): Promise<number> {
    return Number(await this.scripts.run<number>('releaseStaging', [this.keys.budget, this.keys.expiry], [stagingId, nowMs]));
  }

  /** Bytes reserved now, every gateway together (expired reservations included until the next call prunes them). */
  async reservedBytes(): Promise<number> {
    return Number((await this.redis.hget(this.keys.budget, '_total')) ?? 0);
  }

  /** Bytes `clientId` holds reserved now. */
  async clientBytes(clientId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.budget, `c:${clientId}`)) ?? 0);
  }
}
