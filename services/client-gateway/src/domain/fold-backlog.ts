/**
 * The fold backlog: committed updates not yet folded into every range of
 * their round, over the live rounds (RoundStore.unfoldedUpdates). It bounds
 * how far the aggregators may fall behind the gateways (and so the update
 * objects waiting in the ciphertext store). Measured at most once per
 * `cacheMs` (many uploads arriving together share one measurement); uploads
 * this gateway admitted since the measurement are added to it, so a stale
 * measurement can never let more uploads in than a fresh one would.
 */
import type { RoundStore } from '@secagg/store';

export class FoldBacklog {
  private measured: { depth: number; atMs: number } | undefined;
  private admittedSince = 0;
  private pending: Promise<number> | undefined;

  constructor(
    private readonly store: Pick<RoundStore, 'unfoldedUpdates'>,
    private readonly cacheMs: number,
    private readonly clock: () => number,
  ) {}

  /** Unfolded committed updates (measured at most `cacheMs` ago) plus uploads admitted since. */
  async depth(): Promise<number> {
    const now = this.clock();
    if (this.measured && now - this.measured.atMs < this.cacheMs) return this.measured.depth + this.admittedSince;
    this.pending ??= this.store
      .unfoldedUpdates()
      .then((depth) => {
        this.measured = { depth, atMs: this.clock() };
        this.admittedSince = 0;
        return depth;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  /** Counts an upload admitted against the current measurement (it may commit before the next one). */
  noteAdmitted(): void {
    this.admittedSince++;
  }

  /** Forgets the last measurement (the next call asks Redis). */
  invalidate(): void {
    this.measured = undefined;
  }
}
