/**
 * RangeFolder: one aggregator's in-memory partial sum of one range of a
 * round's ciphertext indexes (issue 11). It reads each committed update's
 * range once, straight from the ciphertext store into the accumulator's
 * scratch (WebAssembly memory), adds it with SIMD, and writes durable
 * checkpoints of the sum to the ciphertext store; which checkpoint counts is
 * recorded in Redis by the caller (RangeProgress), so a crash loses only the
 * work since the last checkpoint and never counts an update twice
 * (docs/RELIABILITY.md).
 *
 * Memory: the range's partial sum (count x ciphertext bytes) plus two read
 * blocks (`blockBytes`, about 1 MiB each), whatever the number of clients.
 *
 * Speed: an update's range is read through one open reader (not one open per
 * block), and the next block is read (by libuv's thread pool) while this one
 * is added on the main thread, so reading and adding overlap.
 */
import { CiphertextAccumulator, type CiphertextFormat } from '@secagg/ckks';
import type { CiphertextStore } from '@secagg/ciphertext-store';
import type { CiphertextRange } from '@secagg/store';

/** Name of the checkpoint object of `range` after `folded` updates: deterministic, so equal checkpoints share a name. */
export function checkpointName(range: number, folded: number): string {
  return `ckpt-r${range}-n${folded}`;
}

export class RangeFolder {
  private readonly accumulator: CiphertextAccumulator;
  private readonly recordsPerBlock: number;
  private foldedCount: number;

  private constructor(
    readonly roundId: string,
    readonly range: CiphertextRange,
    private readonly format: CiphertextFormat,
    private readonly objects: CiphertextStore,
    blockBytes: number,
    folded: number,
  ) {
    this.recordsPerBlock = Math.max(1, Math.min(range.count, Math.floor(blockBytes / format.byteLength)));
    // Two blocks of scratch, allocated here once: the fold never grows the memory, so its views stay valid.
    this.accumulator = new CiphertextAccumulator(format, range.count, 2 * this.recordsPerBlock * format.byteLength);
    this.foldedCount = folded;
  }

  /**
   * A folder resuming from a recorded checkpoint (`checkpoint` = '' and
   * `folded` = 0 for a range nothing was folded into yet).
   */
  static async resume(
    roundId: string,
    range: CiphertextRange,
    format: CiphertextFormat,
    objects: CiphertextStore,
    from: { folded: number; checkpoint: string },
    blockBytes = 1 << 20,
  ): Promise<RangeFolder> {
    const folder = new RangeFolder(roundId, range, format, objects, blockBytes, from.folded);
    if (from.folded > 0) {
      const bytes = await objects.get({ roundId, name: from.checkpoint });
      if (!bytes) throw new Error(`round ${roundId} range ${range.index}: checkpoint ${from.checkpoint} of ${from.folded} updates is missing`);
      folder.accumulator.load(bytes);
    }
    return folder;
  }

  /** Updates of the commit log folded into the in-memory sum (a prefix length). */
  get folded(): number {
    return this.foldedCount;
  }

  /**
   * Adds the range of the update stored as `objectName` (the next entry of
   * the commit log). Its ciphertexts were validated by the gateway before
   * they were committed.
   */
  async fold(objectName: string): Promise<void> {
    const { first, count } = this.range;
    const recordBytes = this.format.byteLength;
    const blockBytes = this.recordsPerBlock * recordBytes;
    const reader = await this.objects.openReader({ roundId: this.roundId, name: objectName });
    const read = (done: number): Promise<void> => {
      const records = Math.min(this.recordsPerBlock, count - done);
      const half = (done / this.recordsPerBlock) % 2;
      return reader.readInto((first + done) * recordBytes, this.accumulator.scratch(records * recordBytes, half * blockBytes));
    };
    let pending: Promise<void> | undefined;
    try {
      pending = read(0);
      for (let done = 0; done < count; done += this.recordsPerBlock) {
        await pending;
        pending = undefined;
        const next = done + this.recordsPerBlock;
        if (next < count) pending = read(next);
        const records = Math.min(this.recordsPerBlock, count - done);
        this.accumulator.addScratch(done, records, ((done / this.recordsPerBlock) % 2) * blockBytes);
      }
    } finally {
      // A failed add must not leave a read writing into the scratch after the reader closes.
      await pending?.catch(() => undefined);
      await reader.close();
    }
    this.foldedCount++;
  }

  /** Writes the sum durably as the checkpoint of `folded` updates; returns its object name. */
  async writeCheckpoint(): Promise<string> {
    const name = checkpointName(this.range.index, this.foldedCount);
    await this.objects.put({ roundId: this.roundId, name }, this.accumulator.bytes());
    return name;
  }

  /** Ciphertext i of the range's sum (a view). */
  ciphertext(i: number): Uint8Array {
    return this.accumulator.ciphertext(i);
  }
}
