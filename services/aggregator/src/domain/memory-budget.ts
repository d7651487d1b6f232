/**
 * Bounds the aggregator's memory by bytes, not by job count: a fold holds one
 * update and one partial sum (2U, U = one update's ciphertext bytes), a
 * finalize the total, a partial sum and the result (about 2.5U). Jobs wait
 * for their share of `budgetBytes` before they read anything; a job larger
 * than the whole budget runs alone. With 10M-value updates (U = 160 MB) and
 * the default budget, folds run one at a time instead of `foldConcurrency`.
 */
export class MemoryBudget {
  private inUse = 0;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(readonly budgetBytes: number) {}

  /** Runs `work` once `bytes` (capped at the whole budget) are available, FIFO. */
  async run<R>(bytes: number, work: () => Promise<R>): Promise<R> {
    const share = Math.min(bytes, this.budgetBytes);
    await this.acquire(share);
    try {
      return await work();
    } finally {
      this.release(share);
    }
  }

  /** Bytes currently held by running jobs. */
  get held(): number {
    return this.inUse;
  }

  private acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.inUse + bytes <= this.budgetBytes) {
      this.inUse += bytes;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ bytes, resolve }));
  }

  private release(bytes: number): void {
    this.inUse -= bytes;
    while (this.waiting.length > 0 && this.inUse + this.waiting[0]!.bytes <= this.budgetBytes) {
      const next = this.waiting.shift()!;
      this.inUse += next.bytes;
      next.resolve();
    }
  }
}
