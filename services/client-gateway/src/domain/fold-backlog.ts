/**
 * The fold backlog: fold jobs not yet finished (waiting, prioritized, delayed
 * for a retry, or running), over all rounds. Each such job is a committed
 * update whose ciphertexts still sit in Redis, so this count bounds the
 * committed-but-unfolded bytes. Measured at most once per `cacheMs` (many
 * uploads arriving together share one measurement); uploads this gateway
 * admitted since the measurement are added to it, so a stale measurement
 * can never let more uploads in than a fresh one would.
 */
import type { RoundQueues } from '@secagg/queue';

const UNFINISHED = ['wait', 'prioritized', 'delayed', 'active', 'paused'] as const;

export class FoldBacklog {
  private measured: { depth: number; atMs: number } | undefined;
  private admittedSince = 0;
  private pending: Promise<number> | undefined;

  constructor(
    private readonly queues: Pick<RoundQueues, 'fold'>,
    private readonly cacheMs: number,
    private readonly clock: () => number,
  ) {}

  /** Unfinished fold jobs (measured at most `cacheMs` ago) plus uploads admitted since. */
  async depth(): Promise<number> {
    const now = this.clock();
    if (this.measured && now - this.measured.atMs < this.cacheMs) return this.measured.depth + this.admittedSince;
    this.pending ??= this.queues.fold
      .getJobCounts(...UNFINISHED)
      .then((counts) => {
        const depth = Object.values(counts).reduce((sum, n) => sum + n, 0);
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
