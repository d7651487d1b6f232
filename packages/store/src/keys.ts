/**
 * Redis key layout. Every key of one round carries the hash tag `{<roundId>}`
 * so that each Lua script and MULTI touches a single slot (Redis Cluster);
 * the only cross-round key is the round index, never written together with
 * round keys. BullMQ's keys carry their own tag (`@secagg/queue` queuePrefix).
 *
 *   <p>:rounds                   zset  roundId -> created ms (listing)
 *   <p>:rounds:by:<subject>      zset  roundId -> created ms, the rounds a coordinator owns (its listing)
 *   <p>:groups:owner             hash  privacy group -> subject of the coordinator that owns it
 *   <p>:rounds:live              zset  roundId -> deadline ms, rounds not yet known to be finished (the sweeper's list)
 *   <p>:r:{R}:meta               hash  state, counters, times, config/ckks/attestation (protobuf binary), owner
 *   <p>:r:{R}:pk                 string  public key (SEAL serialization)
 *   <p>:r:{R}:clients            hash  clientId -> updateId of its committed update
 *   <p>:r:{R}:u:<client>         hash  updateId, sha256, count, committedAt, object (its ciphertext object's name)
 *   <p>:r:{R}:log                list  ciphertext object names of committed updates, commit order (range folds)
 *   <p>:r:{R}:range:<i>          hash  owner, fence, leaseUntil, folded, checkpoint of ciphertext range i
 *   <p>:r:{R}:result:header      string  ResultHeader (protobuf binary)
 *   <p>:r:{R}:result:object      hash  name, sha256, bytes of the released noisy sum's object in the
 *                                      ciphertext store (float64 LE; the sum itself is never in Redis)
 *   <p>:r:{R}:result:sum         list  legacy, read only: the sum of a round released by a version that
 *                                      kept it in Redis (float64 LE runs); never written any more
 *   <p>:r:{R}:sampled            hash  clientId -> '1' | '0', its Poisson sampling decision (expires after the round)
 *   <p>:{<p>:gw}:staged          hash  staged-bytes budget of the gateways: '_total' -> reserved bytes;
 *                                      <stagingId> -> bytes; <stagingId>:c -> its client; c:<client> -> its bytes
 *   <p>:{<p>:gw}:staged:exp      zset  stagingId -> expiry (ms) of its reservation
 *
 * Every script that writes these keys is in commands/ (one .lua file each,
 * its contract in its header); nothing outside this package builds a key.
 */
export class RoundKeys {
  readonly base: string;
  constructor(prefix: string, readonly roundId: string) {
    // A brace in either would move (or break) the hash tag; config and id checks forbid them already.
    if (/[{}]/.test(prefix) || /[{}]/.test(roundId) || roundId === '') {
      throw new Error('key prefix and round id may not contain braces, and the round id may not be empty');
    }
    this.base = `${prefix}:r:{${roundId}}`;
  }
  get meta() { return `${this.base}:meta`; }
  get publicKey() { return `${this.base}:pk`; }
  get clients() { return `${this.base}:clients`; }
  get resultHeader() { return `${this.base}:result:header`; }
  /** Where the released sum is: its ciphertext-store object's name, SHA-256 and length. */
  get resultObject() { return `${this.base}:result:object`; }
  /** Legacy (read only): the released sum of a round released before it moved to the ciphertext store. */
  get legacyResultSum() { return `${this.base}:result:sum`; }
  update(clientId: string) { return `${this.base}:u:${clientId}`; }
  /** The commit log: ciphertext object names of committed updates, in commit order (range folds). */
  get commitLog() { return `${this.base}:log`; }
  /** Ownership and checkpoint of ciphertext range i (range folds). */
  range(i: number) { return `${this.base}:range:${i}`; }
  /** Poisson sampling decisions of the round's clients (RoundStore.decideSampling). */
  get sampled() { return `${this.base}:sampled`; }
}

/**
 * The round index. Its slot is unrelated to any round's, so it is only ever
 * written by a command of its own, never inside a round's MULTI or script.
 */
export const roundIndexKey = (prefix: string) => `${prefix}:rounds`;

/**
 * The rounds one coordinator owns (token subjects are `[A-Za-z0-9_.@-]`, so
 * they cannot reach into another key). Written only by a command of its own.
 */
export const ownedRoundIndexKey = (prefix: string, owner: string) => `${prefix}:rounds:by:${owner}`;

/** Owner of every claimed privacy group: one hash, so a claim is one HSETNX. */
export const groupOwnersKey = (prefix: string) => `${prefix}:groups:owner`;

/**
 * Rounds that may still need work (OPEN or CLOSED), scored by deadline: what
 * the aggregators' sweeper walks. Like the index, written only by commands of
 * its own; an entry is dropped once the sweeper sees its round finished.
 */
export const liveRoundsKey = (prefix: string) => `${prefix}:rounds:live`;

/**
 * The gateways' staged-bytes budget (staging-budget.ts). Outside any round's
 * slot, as the budget is cluster-wide; one tag keeps both keys in one slot,
 * as a script touching both needs on a Redis Cluster.
 */
export function stagingBudgetKeys(prefix: string): { budget: string; expiry: string } {
  const base = `${prefix}:{${prefix}:gw}:staged`;
  return { budget: base, expiry: `${base}:exp` };
}

/**
 * The hash tag Redis Cluster hashes a key by (the text between the first `{`
 * and the next `}`, if not empty), or the whole key: two keys with the same
 * result live in the same slot. Used by tests to check the layout.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}
