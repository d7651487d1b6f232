/**
 * Range ownership and checkpoint progress of a round's folds, in Redis
 * (metadata only: the partial sums themselves are objects of the ciphertext
 * store). The model (docs/RELIABILITY.md):
 *
 *  - every committed update is appended to the round's commit log, in commit
 *    order, as the name of its ciphertext object; the log only grows while
 *    the round is OPEN, and is final once it is CLOSED;
 *  - the round's ciphertext indexes are split into ranges of
 *    `ciphertextsPerRange` (fixed per round the first time anyone asks, so
 *    every aggregator agrees);
 *  - a range's checkpoint of n is EXACTLY the sum, over the range, of the log's
 *    first n updates: whoever folds from checkpoint n to m writes checkpoint m.
 *    Additions mod q are exact and commutative, so two folds to the same m
 *    write the same bytes, and a crash loses only work since the last
 *    checkpoint — never counts an update twice or skips one;
 *  - a lease (fenced, Redis clock) makes one aggregator the range's folder at a
 *    time, so work is not duplicated; correctness does not depend on it.
 */
import type { Cluster, Redis } from 'ioredis';
import { RoundKeys } from './keys.js';
import { StoreScripts } from './scripts.js';

/** A range of a round's ciphertext indexes: [first, first + count). */
export interface CiphertextRange {
  index: number;
  first: number;
  count: number;
}

/** Splits `ciphertextCount` indexes into ranges of `perRange` (the last one shorter). */
export function rangesOf(ciphertextCount: number, perRange: number): CiphertextRange[] {
  if (!(Number.isSafeInteger(ciphertextCount) && ciphertextCount > 0)) throw new RangeError(`ciphertext count ${ciphertextCount}`);
  if (!(Number.isSafeInteger(perRange) && perRange > 0)) throw new RangeError(`ciphertexts per range ${perRange}`);
  const ranges: CiphertextRange[] = [];
  for (let first = 0, index = 0; first < ciphertextCount; first += perRange, index++) {
    ranges.push({ index, first, count: Math.min(perRange, ciphertextCount - first) });
  }
  return ranges;
}

/** A range held by this owner: write checkpoints with its fence. */
export interface RangeLease {
  range: number;
  fence: string;
  /** Updates of the log in the recorded checkpoint. */
  folded: number;
  /** Object name of the recorded checkpoint; '' when nothing is folded yet. */
  checkpoint: string;
  /** Lease end, ms on Redis's clock. */
  leaseUntilMs: number;
}

export interface RangeCheckpoint {
  folded: number;
  checkpoint: string;
}

export type CheckpointOutcome = { kind: 'OK'; previous: string } | { kind: 'STALE'; folded: number } | { kind: 'LOST' };

export class RangeProgress {
  private readonly scripts: StoreScripts;

  constructor(
    private readonly redis: Redis | Cluster,
    readonly prefix: string,
  ) {
    this.scripts = new StoreScripts(redis);
  }

  private keys(roundId: string): RoundKeys {
    return new RoundKeys(this.prefix, roundId);
  }

  /** The round's range size: `proposed` if none was fixed yet, else the one fixed first. */
  async ciphertextsPerRange(roundId: string, proposed: number): Promise<number> {
    const k = this.keys(roundId);
    await this.redis.hsetnx(k.meta, 'ciphertextsPerRange', String(proposed));
    return Number(await this.redis.hget(k.meta, 'ciphertextsPerRange'));
  }

  /** Length of the round's commit log. */
  async logLength(roundId: string): Promise<number> {
    return this.redis.llen(this.keys(roundId).commitLog);
  }

  /** Entries [from, to) of the commit log: ciphertext object names, in commit order. */
  async logEntries(roundId: string, from: number, to: number): Promise<string[]> {
    if (to <= from) return [];
    return this.redis.lrange(this.keys(roundId).commitLog, from, to - 1);
  }

  async acquire(roundId: string, range: number, owner: string, leaseMs: number): Promise<RangeLease | undefined> {
    const reply = await this.scripts.run<[number, string, string, number] | []>('acquireRange', [this.keys(roundId).range(range)], [owner, leaseMs]);
    if (reply.length === 0) return undefined;
    const [fence, folded, checkpoint, until] = reply;
    return { range, fence: String(fence), folded: Number(folded), checkpoint, leaseUntilMs: Number(until) };
  }

  /** Extends the lease; false if the range is no longer this owner's. */
  async renew(roundId: string, lease: RangeLease, owner: string, leaseMs: number): Promise<boolean> {
    const until = Number(await this.scripts.run<number>('renewRange', [this.keys(roundId).range(lease.range)], [owner, lease.fence, leaseMs]));
    if (until === 0) return false;
    lease.leaseUntilMs = until;
    return true;
  }

  async release(roundId: string, lease: RangeLease, owner: string): Promise<boolean> {
    return (await this.scripts.run<number>('releaseRange', [this.keys(roundId).range(lease.range)], [owner, lease.fence])) === 1;
  }

  /** Records checkpoint `name` of `folded` updates, if the lease still holds and it moves forward. */
  async checkpoint(roundId: string, lease: RangeLease, owner: string, folded: number, name: string): Promise<CheckpointOutcome> {
    const [kind, value] = await this.scripts.run<string[]>('checkpointRange', [this.keys(roundId).range(lease.range)], [owner, lease.fence, folded, name]);
    if (kind === 'OK') {
      lease.folded = folded;
      lease.checkpoint = name;
      return { kind, previous: value ?? '' };
    }
    if (kind === 'STALE') return { kind, folded: Number(value) };
    return { kind: 'LOST' };
  }

  /** The recorded checkpoint of every range (finalize: all must reach the final log length). */
  async checkpoints(roundId: string, rangeCount: number): Promise<RangeCheckpoint[]> {
    const k = this.keys(roundId);
    const pipeline = this.redis.pipeline();
    for (let i = 0; i < rangeCount; i++) pipeline.hmget(k.range(i), 'folded', 'checkpoint');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw error;
      const [folded, checkpoint] = value as [string | null, string | null];
      return { folded: Number(folded ?? '0'), checkpoint: checkpoint ?? '' };
    });
  }
}
