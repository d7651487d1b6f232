/**
 * The range worker (issue 11): each aggregator process folds ranges of the
 * live rounds' ciphertext indexes, holding each range's partial sum in memory
 * (domain/range-folder.ts) and checkpointing it to the ciphertext store.
 *
 * Every `rangePollMs` it walks the live rounds (the sweeper's list) and, for
 * each range whose recorded checkpoint is behind the round's commit log:
 *  - takes the range's lease (RangeProgress: fenced, by Redis's clock) if it
 *    holds fewer than `maxRangesHeld` ranges — evicting a caught-up one to
 *    make room — and resumes from the range's recorded checkpoint;
 *  - folds the log's next updates, reading each update's range once, straight
 *    from the ciphertext store into the accumulator;
 *  - checkpoints every `checkpointEveryUpdates` updates or
 *    `checkpointIntervalMs`, and at once when the round is CLOSED and the range
 *    has folded the whole (now final) log; then it releases the range.
 *
 * Exactly once (docs/RELIABILITY.md): a checkpoint of n is exactly the sum of
 * the log's first n updates over the range; a new owner resumes from the last
 * recorded one and folds the log from there. A crash loses work since the last
 * checkpoint, never counts an update twice or skips one. Finalize
 * (round-lifecycle.ts) waits until every range's checkpoint covers the log.
 *
 * Memory: at most `maxRangesHeld` x (range bytes + one read block), whatever
 * the number of clients or the vector length.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@secagg/core';
import type { CiphertextStore } from '@secagg/ciphertext-store';
import { formatOf } from '@secagg/protocol';
import { rangesOf, type CiphertextRange, type RangeLease, type RangeProgress, type RoundRecord, type RoundStore } from '@secagg/store';
import { RangeFolder } from '../domain/range-folder.js';

export interface RangeWorkerSettings {
  /** This process's owner id in range leases (unique per process incarnation). */
  ownerId: string;
  ciphertextsPerRange: number;
  maxRangesHeld: number;
  rangeLeaseMs: number;
  checkpointEveryUpdates: number;
  checkpointIntervalMs: number;
  rangePollMs: number;
  readBlockBytes: number;
  /** Ranges of a round this process folds at once (at least 1). */
  foldConcurrency: number;
  /** TEST ONLY: sleep this long after every update folded. */
  testFoldDelayMs: number;
}

export interface RangeWorkerDeps {
  store: RoundStore;
  progress: RangeProgress;
  objects: CiphertextStore;
  logger: Logger;
  /** Called for every update folded into a range and every checkpoint recorded (metrics). */
  onFold?: (outcome: 'folded' | 'checkpoint' | 'lease_lost' | 'error') => void;
}

interface HeldRange {
  roundId: string;
  range: CiphertextRange;
  lease: RangeLease;
  folder: RangeFolder;
  /** Ranges the round has (to compute what every range has folded). */
  rangeCount: number;
  lastCheckpointMs: number;
  sinceCheckpoint: number;
  /** When to renew the lease next (this process's clock: a duration from the last renewal). */
  renewAt?: number;
}

export class RangeWorker {
  private readonly held = new Map<string, HeldRange>();
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: RangeWorkerDeps,
    private readonly settings: RangeWorkerSettings,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  isRunning(): boolean {
    return this.running;
  }

  /** Ranges held now (metrics, tests). */
  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Stops after the current update; checkpoints and releases every held range
   * (so another aggregator takes over at once instead of after the lease).
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    const rounds = new Map<string, number>();
    let handedBack = 0;
    for (const held of [...this.held.values()]) {
      try {
        await this.checkpoint(held);
        if (await this.deps.progress.release(held.roundId, held.lease, this.settings.ownerId)) handedBack++;
        rounds.set(held.roundId, held.rangeCount);
      } catch (error) {
        this.deps.logger.warn({ err: error, roundId: held.roundId, range: held.range.index }, 'could not hand a range back on shutdown; its lease expires');
      }
      this.held.delete(keyOf(held.roundId, held.range.index));
    }
    for (const [roundId, rangeCount] of rounds) await this.raiseRoundFolded(roundId, rangeCount).catch(() => undefined);
    this.deps.logger.info({ ranges: handedBack }, 'ranges checkpointed and handed back on shutdown');
  }

  /** Raises the round's `folded` (its status) to what every range's recorded checkpoint covers. */
  private async raiseRoundFolded(roundId: string, rangeCount: number): Promise<void> {
    const recorded = await this.deps.progress.checkpoints(roundId, rangeCount);
    await this.deps.store.raiseFolded(roundId, Math.min(...recorded.map((c) => c.folded)));
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false;
      try {
        worked = await this.pass();
      } catch (error) {
        this.deps.onFold?.('error');
        this.deps.logger.warn({ err: error }, 'range fold pass failed; the next pass retries');
      }
      if (!this.running || worked) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        sleep(this.settings.rangePollMs).then(resolve, resolve);
      });
      this.wake = undefined;
    }
  }

  /** One walk over the live rounds. True when it folded anything. */
  private async pass(): Promise<boolean> {
    const { store } = this.deps;
    let worked = false;
    const live = new Set<string>();
    for (const { roundId } of await store.liveRounds()) {
      if (!this.running) break;
      live.add(roundId);
      const round = await store.getRound(roundId);
      if (!round || (round.state !== 'OPEN' && round.state !== 'CLOSED')) {
        this.forgetRound(roundId);
        continue;
      }
      worked = (await this.foldRound(round)) || worked;
    }
    for (const held of [...this.held.values()]) if (!live.has(held.roundId)) this.forgetRound(held.roundId);
    return worked;
  }

  private async foldRound(round: RoundRecord): Promise<boolean> {
    const { progress } = this.deps;
    const roundId = round.roundId;
    const perRange = await progress.ciphertextsPerRange(roundId, this.settings.ciphertextsPerRange);
    const ranges = rangesOf(round.ckks.ciphertextCount, perRange);
    const logLength = await progress.logLength(roundId);
    const recorded = await progress.checkpoints(roundId, ranges.length);
    let worked = false;
    // Up to `foldConcurrency` ranges fold at once, so one range's reads and checkpoint (fdatasync) overlap
    // another's additions; ranges are taken one at a time as others finish, so a second aggregator still
    // finds ranges to take instead of this process holding them all.
    const folding = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    for (const range of ranges) {
      if (!this.running || failure) break;
      let held = this.held.get(keyOf(roundId, range.index));
      if (!held) {
        if (recorded[range.index]!.folded >= logLength) continue;
        held = await this.take(round, range, ranges.length);
        if (!held) continue;
      }
      const fold: Promise<void> = this.foldHeld(held, logLength, round.state === 'CLOSED').then(
        (folded) => {
          worked = folded || worked;
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      folding.add(fold);
      void fold.finally(() => folding.delete(fold));
      if (folding.size >= this.settings.foldConcurrency) await Promise.race(folding);
    }
    await Promise.all(folding);
    if (failure) throw failure.error;
    // The round's status shows what every range has durably folded. Raised every pass, not only after this
    // process's own checkpoints: two aggregators checkpointing different ranges at once can each see the other's
    // range still behind, and a later pass is what brings the counter up to date.
    await this.raiseRoundFolded(roundId, ranges.length);
    return worked;
  }

  /** Takes a range's lease and resumes its folder, if there is room (evicting a caught-up range) and nobody else holds it. */
  private async take(round: RoundRecord, range: CiphertextRange, rangeCount: number): Promise<HeldRange | undefined> {
    if (this.held.size >= this.settings.maxRangesHeld && !(await this.evictIdle())) return undefined;
    const { progress, objects } = this.deps;
    const lease = await progress.acquire(round.roundId, range.index, this.settings.ownerId, this.settings.rangeLeaseMs);
    if (!lease) return undefined;
    const folder = await RangeFolder.resume(
      round.roundId,
      range,
      formatOf(round.ckks),
      objects,
      { folded: lease.folded, checkpoint: lease.checkpoint },
      this.settings.readBlockBytes,
    );
    const held: HeldRange = { roundId: round.roundId, range, lease, folder, rangeCount, lastCheckpointMs: Date.now(), sinceCheckpoint: 0 };
    this.held.set(keyOf(round.roundId, range.index), held);
    this.deps.logger.debug({ roundId: round.roundId, range: range.index, from: lease.folded }, 'range taken');
    return held;
  }

  /** Frees one held range that has nothing to fold (checkpointed and released). */
  private async evictIdle(): Promise<boolean> {
    const { progress } = this.deps;
    for (const held of this.held.values()) {
      if (held.folder.folded < (await progress.logLength(held.roundId))) continue;
      await this.checkpoint(held);
      await progress.release(held.roundId, held.lease, this.settings.ownerId);
      this.held.delete(keyOf(held.roundId, held.range.index));
      return true;
    }
    return false;
  }

  /** Folds a held range up to `logLength`, checkpointing by policy; releases it once a closed round's log is all in. */
  private async foldHeld(held: HeldRange, logLength: number, closed: boolean): Promise<boolean> {
    const { progress, logger } = this.deps;
    const { ownerId, checkpointEveryUpdates, checkpointIntervalMs, testFoldDelayMs } = this.settings;
    let worked = false;
    while (this.running && held.folder.folded < logLength) {
      if (!(await this.keepLease(held))) return worked;
      const names = await progress.logEntries(held.roundId, held.folder.folded, Math.min(logLength, held.folder.folded + 64));
      for (const name of names) {
        await held.folder.fold(name);
        held.sinceCheckpoint++;
        worked = true;
        this.deps.onFold?.('folded');
        if (testFoldDelayMs > 0) await sleep(testFoldDelayMs);
        if (held.sinceCheckpoint >= checkpointEveryUpdates || Date.now() - held.lastCheckpointMs >= checkpointIntervalMs) {
          if (!(await this.checkpoint(held))) return worked;
        }
        if (!this.running) break;
      }
    }
    if (held.folder.folded > held.lease.folded && (closed || Date.now() - held.lastCheckpointMs >= checkpointIntervalMs)) {
      if (!(await this.checkpoint(held))) return worked;
    }
    if (closed && held.lease.folded >= logLength) {
      // The log is final and all in: nothing more will come for this range.
      await progress.release(held.roundId, held.lease, ownerId);
      this.held.delete(keyOf(held.roundId, held.range.index));
      logger.info({ roundId: held.roundId, range: held.range.index, folded: held.lease.folded }, 'range complete');
    } else if (!(await this.keepLease(held))) {
      return worked;
    }
    return worked;
  }

  /** Renews the lease once half of it has passed; false (and the range dropped) when it was lost. */
  private async keepLease(held: HeldRange): Promise<boolean> {
    const { progress } = this.deps;
    // leaseUntilMs is Redis's clock: compare durations on this process's clock instead, renewing half-way through.
    held.renewAt ??= Date.now() + this.settings.rangeLeaseMs / 2;
    if (Date.now() < held.renewAt) return true;
    if (await progress.renew(held.roundId, held.lease, this.settings.ownerId, this.settings.rangeLeaseMs)) {
      held.renewAt = Date.now() + this.settings.rangeLeaseMs / 2;
      return true;
    }
    this.lost(held);
    return false;
  }

  /** Writes and records a checkpoint of the held range (if it moved). False when the lease was lost. */
  private async checkpoint(held: HeldRange): Promise<boolean> {
    if (held.folder.folded <= held.lease.folded) return true;
    const { progress, objects, logger } = this.deps;
    const name = await held.folder.writeCheckpoint();
    const outcome = await progress.checkpoint(held.roundId, held.lease, this.settings.ownerId, held.folder.folded, name);
    held.lastCheckpointMs = Date.now();
    held.sinceCheckpoint = 0;
    if (outcome.kind === 'LOST') {
      this.lost(held);
      return false;
    }
    if (outcome.kind === 'OK') {
      this.deps.onFold?.('checkpoint');
      // The previous checkpoint is no longer what anyone resumes from (only the fence holder moves it).
      if (outcome.previous !== '' && outcome.previous !== name) await objects.delete({ roundId: held.roundId, name: outcome.previous });
      logger.debug({ roundId: held.roundId, range: held.range.index, folded: held.folder.folded }, 'range checkpointed');
    }
    return true;
  }

  private lost(held: HeldRange): void {
    this.deps.onFold?.('lease_lost');
    this.deps.logger.warn({ roundId: held.roundId, range: held.range.index }, 'range lease lost (expired and taken over): dropping its in-memory sum');
    this.held.delete(keyOf(held.roundId, held.range.index));
  }

  private forgetRound(roundId: string): void {
    for (const [key, held] of this.held) if (held.roundId === roundId) this.held.delete(key);
  }
}

function keyOf(roundId: string, range: number): string {
  return `${roundId}/${range}`;
}
