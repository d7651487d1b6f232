/**
 * The ciphertext store: where the bytes of committed updates (and, later,
 * aggregators' partial-sum checkpoints) live, so that Redis keeps only their
 * metadata (issue 11). One interface, so the gateway and the aggregators do
 * not care whether the bytes sit in a shared directory or an object store.
 *
 * Objects are immutable once committed and named by the caller with names
 * unique per upload attempt (the gateway names each upload stream's object),
 * so a commit never replaces bytes another reader may be using. Which object
 * counts for an update is decided elsewhere (the Redis commit script records
 * the object's name); objects that never get recorded are orphans, removed
 * with their round or by `collectOrphans`.
 */

/** Names an object: the round it belongs to and a name unique within it. Both [A-Za-z0-9_.-], no leading dot. */
export interface ObjectKey {
  roundId: string;
  name: string;
}

/** An object being written: invisible to readers until `commit` resolves. */
export interface StagedObject {
  readonly key: ObjectKey;
  /** Bytes appended so far. */
  readonly size: number;
  /** Appends bytes; resolves once the store holds them (the caller may reuse the buffer then). */
  append(bytes: Uint8Array): Promise<void>;
  /**
   * Makes the object durable and visible under its key: when this resolves,
   * the bytes survive a crash of this process and of the machine, as far as
   * the storage honours its sync (fdatasync / a completed PUT).
   */
  commit(): Promise<void>;
  /** Drops the staged bytes. Idempotent; never throws. */
  abort(): Promise<void>;
}

/** A committed object open for reading; `close` when done (idempotent). */
export interface ObjectReader {
  readonly key: ObjectKey;
  /** Reads exactly `into.byteLength` bytes from `byteOffset` into `into`; throws if the object is shorter. */
  readInto(byteOffset: number, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface CiphertextStore {
  /** Starts a new object. Refuses a key that is not well-formed. */
  stage(key: ObjectKey): Promise<StagedObject>;
  /**
   * Reads records [first, first + count) of a committed object whose records
   * are all `recordBytes` long, in blocks of whole records of at most
   * `blockBytes` (at least one record). Each yielded block is a fresh buffer.
   * Throws if the object is missing or shorter than the range.
   */
  readRecords(key: ObjectKey, recordBytes: number, first: number, count: number, blockBytes?: number): AsyncGenerator<Uint8Array>;
  /**
   * Reads exactly `into.byteLength` bytes of a committed object from
   * `byteOffset` into `into` (e.g. a view of an accumulator's scratch: no
   * copy). Throws if the object is missing or shorter.
   */
  readInto(key: ObjectKey, byteOffset: number, into: Uint8Array): Promise<void>;
  /**
   * Opens a committed object for several `readInto`s (a fold reads one
   * update's range in blocks): the filesystem store opens the file once
   * instead of once per block. Throws if the object is missing.
   */
  openReader(key: ObjectKey): Promise<ObjectReader>;
  /** Writes a whole object durably in one step (checkpoints). Replaces an object of the same key atomically. */
  put(key: ObjectKey, bytes: Uint8Array): Promise<void>;
  /** A whole committed object, or undefined. */
  get(key: ObjectKey): Promise<Uint8Array | undefined>;
  /** Size of a committed object in bytes, or undefined. */
  size(key: ObjectKey): Promise<number | undefined>;
  /** Deletes one committed object; false if there was none. */
  delete(key: ObjectKey): Promise<boolean>;
  /**
   * Deletes every object of a round, committed or staged, except the
   * committed objects named in `keep` (a released round keeps its result
   * object while its working objects go). Returns how many it deleted.
   */
  deleteRound(roundId: string, keep?: readonly string[]): Promise<number>;
  /** Round ids with at least one committed object. */
  rounds(): Promise<string[]>;
  /** Removes staged objects older than `olderThanMs` (crashed uploads). Returns how many. */
  collectOrphans(nowMs: number, olderThanMs: number): Promise<number>;
}

/**
 * Writes `bytes` as one object through `stage`: appended, then committed, or
 * aborted if either fails (both stores' `put` for objects written whole).
 */
export async function putStaged(store: Pick<CiphertextStore, 'stage'>, key: ObjectKey, bytes: Uint8Array): Promise<void> {
  const staged = await store.stage(key);
  try {
    await staged.append(bytes);
    await staged.commit();
  } catch (error) {
    await staged.abort();
    throw error;
  }
}

/** Default read block: about 1 MiB of whole records. */
export const DEFAULT_BLOCK_BYTES = 1 << 20;

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

/** Throws RangeError unless the key is well-formed (no path separators, no leading dot, bounded length). */
export function checkObjectKey(key: ObjectKey): ObjectKey {
  if (!NAME.test(key.roundId)) throw new RangeError(`round id ${JSON.stringify(key.roundId)} cannot name a ciphertext object`);
  if (!NAME.test(key.name)) throw new RangeError(`object name ${JSON.stringify(key.name)} is not [A-Za-z0-9_.-]{1,128} without a leading dot`);
  return key;
}

/** Records per read block: as many whole records as fit in `blockBytes`, at least one. */
export function recordsPerBlock(recordBytes: number, blockBytes: number): number {
  if (!(Number.isSafeInteger(recordBytes) && recordBytes > 0)) throw new RangeError(`record length ${recordBytes} is not a positive integer`);
  return Math.max(1, Math.floor(blockBytes / recordBytes));
}
