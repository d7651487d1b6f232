/**
 * The released noisy sum on its way to the ciphertext store (issue 11: Redis
 * holds metadata only). The keyholder's answer is appended to a staged
 * object as it arrives, hashed on the way, and committed — durable (fdatasync
 * / a completed PUT) — before the finalize job records its name, SHA-256 and
 * length in Redis (RoundStore.recordRelease). So the finalizer never holds the
 * whole sum (80 MB at 10M values), and a crash before the record leaves an
 * object no record names, deleted with the round's working set by the attempt
 * that records (or by a later finalize of the finished round).
 *
 * Each attempt writes its own object (`result-<16 hex>`): two attempts of the
 * same release (a retry after a crash, a stalled job run twice) may carry
 * different noise if the keyholder had to resume a charged release, and the
 * first record wins, so an attempt must never replace bytes another attempt
 * recorded.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { CiphertextStore, StagedObject } from '@secagg/ciphertext-store';
import type { ResultObject } from '@secagg/store';

/** Bytes per released value (float64 LE). */
const VALUE_BYTES = 8;

export class ResultWriter {
  private readonly hash: Hash = createHash('sha256');

  private constructor(private readonly staged: StagedObject) {}

  /** Starts a new result object of `roundId`. */
  static async open(objects: CiphertextStore, roundId: string): Promise<ResultWriter> {
    return new ResultWriter(await objects.stage({ roundId, name: `result-${randomBytes(8).toString('hex')}` }));
  }

  /** Values appended so far. */
  get values(): number {
    return this.staged.size / VALUE_BYTES;
  }

  /** Appends a run of float64 LE values (the keyholder's `sum_f64le`). */
  async append(sumF64le: Uint8Array): Promise<void> {
    if (sumF64le.byteLength % VALUE_BYTES !== 0) throw new Error(`a result run of ${sumF64le.byteLength} bytes is not whole float64 values`);
    this.hash.update(sumF64le);
    await this.staged.append(sumF64le);
  }

  /** Makes the object durable and visible; returns what Redis records of it. */
  async commit(): Promise<ResultObject> {
    const bytes = this.staged.size;
    const sha256 = this.hash.digest('hex');
    await this.staged.commit();
    return { name: this.staged.key.name, sha256, bytes };
  }

  /** Drops the staged bytes (the release was not obtained). Never throws. */
  async abort(): Promise<void> {
    await this.staged.abort();
  }
}
