/**
 * The filesystem ciphertext store: a directory on a volume shared by the
 * gateways and the aggregators (a compose volume, a Kubernetes ReadWriteMany
 * PVC). The embedded default.
 *
 * Layout under `root`:
 *   <roundId>/<name>                     committed objects
 *   .staging/<roundId>~<name>~<16 hex>   objects being written
 *
 * Durability of a commit: the staged file is fdatasync'ed, renamed into its
 * round's directory, and that directory is fsync'ed, so both the bytes and
 * the name survive a crash once `commit` resolves (measured on this machine:
 * a file write + fdatasync sustains ~750 MB/s, against ~218 MB/s for Redis
 * with appendfsync always — docs/RELIABILITY.md). A crash before that leaves
 * a staged file that no reader ever sees; `collectOrphans` removes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { checkObjectKey, DEFAULT_BLOCK_BYTES, putStaged, recordsPerBlock, type CiphertextStore, type ObjectKey, type ObjectReader, type StagedObject } from './ciphertext-store.js';

const STAGING = '.staging';
const STAGED_FILE = /^([A-Za-z0-9_-][A-Za-z0-9_.-]{0,127})~([A-Za-z0-9_-][A-Za-z0-9_.-]{0,127})~[0-9a-f]{16}$/;

export class FsCiphertextStore implements CiphertextStore {
  private constructor(readonly root: string) {}

  /** Opens (creating if needed, mode 0700) a store rooted at `root`. */
  static async open(root: string): Promise<FsCiphertextStore> {
    await mkdir(join(root, STAGING), { recursive: true, mode: 0o700 });
    return new FsCiphertextStore(root);
  }

  async stage(key: ObjectKey): Promise<StagedObject> {
    checkObjectKey(key);
    const path = join(this.root, STAGING, `${key.roundId}~${key.name}~${randomBytes(8).toString('hex')}`);
    const file = await open(path, 'wx', 0o600);
    return new FsStagedObject(key, path, file, () => this.commitStaged(key, path));
  }

  private async commitStaged(key: ObjectKey, stagedPath: string): Promise<void> {
    // A staged file removed meanwhile (deleteRound, collectOrphans) fails the
    // commit here, before mkdir could bring a deleted round's directory back.
    await stat(stagedPath);
    const dir = join(this.root, key.roundId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rename(stagedPath, join(dir, key.name));
    await syncDirectory(dir);
  }

  async *readRecords(key: ObjectKey, recordBytes: number, first: number, count: number, blockBytes = DEFAULT_BLOCK_BYTES): AsyncGenerator<Uint8Array> {
    const perBlock = recordsPerBlock(recordBytes, blockBytes);
    if (!(Number.isSafeInteger(first) && first >= 0 && Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(`record range [${first}, ${first} + ${count}) is not a range of non-negative integers`);
    }
    const file = await open(this.pathOf(key), 'r');
    try {
      const { size } = await file.stat();
      if ((first + count) * recordBytes > size) {
        throw new RangeError(`object ${key.roundId}/${key.name} holds ${Math.floor(size / recordBytes)} records, not [${first}, ${first + count})`);
      }
      for (let at = first; at < first + count; at += perBlock) {
        const records = Math.min(perBlock, first + count - at);
        const block = new Uint8Array(records * recordBytes);
        await readFully(file, block, at * recordBytes);
        yield block;
      }
    } finally {
      await file.close();
    }
  }

  async readInto(key: ObjectKey, byteOffset: number, into: Uint8Array): Promise<void> {
    const reader = await this.openReader(key);
    try {
      await reader.readInto(byteOffset, into);
    } finally {
      await reader.close();
    }
  }

  async openReader(key: ObjectKey): Promise<ObjectReader> {
    const file = await open(this.pathOf(key), 'r');
    try {
      const { size } = await file.stat();
      return new FsObjectReader(key, file, size);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  async put(key: ObjectKey, bytes: Uint8Array): Promise<void> {
    await putStaged(this, key, bytes);
  }

  async get(key: ObjectKey): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async size(key: ObjectKey): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async delete(key: ObjectKey): Promise<boolean> {
    try {
      await rm(this.pathOf(key));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async deleteRound(roundId: string, keep: readonly string[] = []): Promise<number> {
    checkObjectKey({ roundId, name: 'x' });
    for (const name of keep) checkObjectKey({ roundId, name });
    const dir = join(this.root, roundId);
    let removed = 0;
    let committed: string[] = [];
    try {
      committed = await readdir(dir);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (keep.length === 0) {
      removed += committed.length;
      await rm(dir, { recursive: true, force: true });
    } else {
      for (const name of committed) {
        if (keep.includes(name)) continue;
        await rm(join(dir, name), { recursive: true, force: true });
        removed++;
      }
    }
    for (const name of await readdir(join(this.root, STAGING))) {
      if (STAGED_FILE.exec(name)?.[1] !== roundId) continue;
      await rm(join(this.root, STAGING, name), { force: true });
      removed++;
    }
    return removed;
  }

  async rounds(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && e.name !== STAGING).map((e) => e.name).sort();
  }

  async collectOrphans(nowMs: number, olderThanMs: number): Promise<number> {
    let removed = 0;
    for (const name of await readdir(join(this.root, STAGING))) {
      if (!STAGED_FILE.test(name)) continue;
      const path = join(this.root, STAGING, name);
      try {
        if (nowMs - (await stat(path)).mtimeMs < olderThanMs) continue;
        await rm(path, { force: true });
        removed++;
      } catch (error) {
        if (!isMissing(error)) throw error; // committed or aborted meanwhile
      }
    }
    return removed;
  }

  private pathOf(key: ObjectKey): string {
    checkObjectKey(key);
    return join(this.root, key.roundId, key.name);
  }
}

class FsStagedObject implements StagedObject {
  private written = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(
    readonly key: ObjectKey,
    private readonly path: string,
    private readonly file: FileHandle,
    private readonly publish: () => Promise<void>,
  ) {}

  get size(): number {
    return this.written;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw new Error(`staged object ${this.key.roundId}/${this.key.name} is ${this.state}`);
    for (let done = 0; done < bytes.byteLength; ) {
      const { bytesWritten } = await this.file.write(bytes, done, bytes.byteLength - done, this.written + done);
      if (bytesWritten === 0) throw new Error(`staged object ${this.key.roundId}/${this.key.name}: write made no progress`);
      done += bytesWritten;
    }
    this.written += bytes.byteLength;
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error(`staged object ${this.key.roundId}/${this.key.name} is ${this.state}`);
    await this.file.datasync();
    await this.file.close();
    this.state = 'committed';
    await this.publish();
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.file.close().catch(() => undefined);
    await rm(this.path, { force: true }).catch(() => undefined);
  }
}

/** fsync of a directory: makes a rename into it durable (POSIX; a no-op where directories cannot be opened). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** One open file: the object's reads share its descriptor (an unlinked object stays readable until close). */
class FsObjectReader implements ObjectReader {
  private closed = false;

  constructor(
    readonly key: ObjectKey,
    private readonly file: FileHandle,
    private readonly size: number,
  ) {}

  async readInto(byteOffset: number, into: Uint8Array): Promise<void> {
    if (!(Number.isSafeInteger(byteOffset) && byteOffset >= 0)) throw new RangeError(`byte offset ${byteOffset} is not a non-negative integer`);
    if (byteOffset + into.byteLength > this.size) {
      throw new RangeError(`object ${this.key.roundId}/${this.key.name} holds ${this.size} bytes, not [${byteOffset}, ${byteOffset + into.byteLength})`);
    }
    await readFully(this.file, into, byteOffset);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }
}

async function readFully(file: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await file.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new Error(`short read at byte ${position + done}`);
    done += bytesRead;
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
