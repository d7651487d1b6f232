/**
 * ReleaseSpool: the ciphertexts of one encrypted sum, on disk while a release
 * receives them (issue 5 item 2: bounded memory).
 *
 * The release must not consume the round key before every ciphertext has
 * arrived and passed validation (release-round.ts), so the whole sum has to
 * be held somewhere first: 2,442 ciphertexts = 160 MB for 10M values on the
 * default preset. Here it is a file, written as frames arrive, so the
 * process holds one ciphertext at a time; the handler then reads it back,
 * synchronously, one record at a time. Records have the round's fixed
 * ciphertext length, record i at offset i * recordBytes.
 *
 * The file is transient, so it is never fsynced: nothing reads it after a
 * crash (the aggregator retries with the same encrypted sum, which a charged
 * release is bound to by the spool's SHA-256, and the retry spools it anew). It holds only what the aggregator already holds, the encrypted
 * sum. It is removed by `discard()` (the handler's `finally`);
 * a file left by a crash is removed by `removeStaleSpools` at start.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, write } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KeyholderConfig } from '../config.js';

const writeAt = promisify(write);

/** `<roundId>.<16 hex>.spool`: round ids are [A-Za-z0-9_-]{1,64} (protocol's checkRoundId). */
const SPOOL_FILE = /^[A-Za-z0-9_-]{1,64}\.[0-9a-f]{16}\.spool$/;

/** The directory spool files live in: config.spoolDir, by default `<dataDir>/spool`. */
export function releaseSpoolDir(config: Pick<KeyholderConfig, 'dataDir' | 'spoolDir'>): string {
  return config.spoolDir ?? join(config.dataDir, 'spool');
}

/**
 * Creates the spool directory (mode 0700) and removes every spool file in it:
 * called at start, when no release of this process can be in progress, so
 * any spool file is a crash's leftover. Only files named like spool files are
 * touched (the directory may be shared). Returns how many were removed.
 */
export function removeStaleSpools(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let removed = 0;
  for (const name of readdirSync(dir)) {
    if (!SPOOL_FILE.test(name)) continue;
    rmSync(join(dir, name), { force: true });
    removed++;
  }
  return removed;
}

export class ReleaseSpool {
  private fd: number | undefined;
  private records = 0;
  /** SHA-256 of the records in order: what a charged release is bound to (key-store.ts ReleaseClaim). */
  private readonly hash: Hash = createHash('sha256');

  private constructor(
    /** Absolute path of the spool file (unique per release attempt). */
    readonly path: string,
    /** Length of every record: the round's serialized ciphertext length. */
    readonly recordBytes: number,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates a new, empty spool file (mode 0600, exclusive) for a release of `roundId`. */
  static create(dir: string, roundId: string, recordBytes: number): ReleaseSpool {
    if (!(Number.isSafeInteger(recordBytes) && recordBytes > 0)) throw new RangeError(`record length ${recordBytes} is not a positive integer`);
    const name = `${roundId}.${randomBytes(8).toString('hex')}.spool`;
    if (!SPOOL_FILE.test(name)) throw new RangeError(`round id ${JSON.stringify(roundId)} cannot name a spool file`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, name);
    return new ReleaseSpool(path, recordBytes, openSync(path, 'wx+', 0o600));
  }

  /** Records appended so far. */
  get count(): number {
    return this.records;
  }

  /** Appends one record; resolves when the bytes are written (the caller may drop them then). */
  async append(record: Uint8Array): Promise<void> {
    if (record.byteLength !== this.recordBytes) throw new RangeError(`record of ${record.byteLength} bytes in a spool of ${this.recordBytes}-byte records`);
    const fd = this.open();
    const position = this.records * this.recordBytes;
    for (let done = 0; done < record.byteLength; ) {
      const { bytesWritten } = await writeAt(fd, record, done, record.byteLength - done, position + done);
      if (bytesWritten === 0) throw new Error(`spool ${this.path}: write made no progress`);
      done += bytesWritten;
    }
    this.hash.update(record);
    this.records++;
  }

  /** SHA-256 of every record appended, in order. Call once, after the last append. */
  digest(): Uint8Array {
    return new Uint8Array(this.hash.digest());
  }

  /**
   * Reads the records back in order, synchronously (the release path must not
   * await between the budget check and the charge). Each record is yielded in
   * ONE reused buffer, valid only until the next one is read: memory is one
   * record, whatever the count.
   */
  *read(): Generator<Uint8Array> {
    const fd = this.open();
    const buffer = new Uint8Array(this.recordBytes);
    for (let index = 0; index < this.records; index++) {
      const position = index * this.recordBytes;
      for (let done = 0; done < buffer.byteLength; ) {
        const bytesRead = readSync(fd, buffer, done, buffer.byteLength - done, position + done);
        if (bytesRead === 0) throw new Error(`spool ${this.path}: record ${index} is truncated`);
        done += bytesRead;
      }
      yield buffer;
    }
  }

  /**
   * Closes and deletes the file. Idempotent; never throws (a leftover is
   * removed at the next start). Call it only when no append is in flight
   * (the handler awaits every append).
   */
  discard(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed by the OS; the unlink below still matters
      }
      this.fd = undefined;
    }
    try {
      rmSync(this.path, { force: true });
    } catch {
      // removed at the next start (removeStaleSpools)
    }
  }

  [Symbol.dispose](): void {
    this.discard();
  }

  private open(): number {
    if (this.fd === undefined) throw new Error(`spool ${this.path} is discarded`);
    return this.fd;
  }
}
