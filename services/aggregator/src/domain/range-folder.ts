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
 * Memory: the range's partial sum (count x ciphertext bytes) plus one read
 * block (`blockBytes`, about 1 MiB), whatever the number of clients.
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
    this.accumulator = new CiphertextAccumulator(format, range.count, this.recordsPerBlock * format.byteLength);
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
    for (let done = 0; done < count; done += this.recordsPerBlock) {
      const records = Math.min(this.recordsPerBlock, count - done);
      const scratch = this.accumulator.scratch(records * recordBytes);
      await this.objects.readInto({ roundId: this.roundId, name: objectName }, (first + done) * recordBytes, scratch);
      this.accumulator.addScratch(done, records);
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
