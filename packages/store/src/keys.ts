/**
 * Redis key layout. Every key of one round carries the hash tag `{<roundId>}`
 * so that each Lua script touches a single slot (Redis Cluster ready); the
 * only cross-round key is the round index.
 *
 *   <p>:rounds                   zset  roundId -> created ms (listing)
 *   <p>:r:{R}:meta               hash  state, counters, times, config/ckks (protobuf binary)
 *   <p>:r:{R}:pk                 string  public key (SEAL serialization)
 *   <p>:r:{R}:clients            hash  clientId -> updateId of its committed update
 *   <p>:r:{R}:u:<client>         hash  updateId, sha256, count, committedAt
 *   <p>:r:{R}:u:<client>:ct      list  the committed ciphertexts, index order (deleted once folded)
 *   <p>:r:{R}:s:<stagingId>      list  ciphertexts of a stream in progress (TTL)
 *   <p>:r:{R}:folded             set   clientIds folded into some shard
 *   <p>:r:{R}:acc:<k>            list  encrypted partial sum k, index order
 *   <p>:r:{R}:acc:<k>:v          string  version of partial sum k (compare-and-set) = updates folded into it
 *   <p>:r:{R}:shards             set   indexes k of the partial sums in use
 *   <p>:r:{R}:result:header      string  ResultHeader (protobuf binary)
 *   <p>:r:{R}:result:sum         list  released noisy sum, float64 LE runs of RESULT_RUN_VALUES
 */
export class RoundKeys {
  readonly base: string;
  constructor(prefix: string, readonly roundId: string) {
    this.base = `${prefix}:r:{${roundId}}`;
  }
  get meta() { return `${this.base}:meta`; }
  get publicKey() { return `${this.base}:pk`; }
  get clients() { return `${this.base}:clients`; }
  get folded() { return `${this.base}:folded`; }
  get shardsInUse() { return `${this.base}:shards`; }
  get resultHeader() { return `${this.base}:result:header`; }
  get resultSum() { return `${this.base}:result:sum`; }
  update(clientId: string) { return `${this.base}:u:${clientId}`; }
  updateData(clientId: string) { return `${this.base}:u:${clientId}:ct`; }
  staging(stagingId: string) { return `${this.base}:s:${stagingId}`; }
  shard(k: number) { return `${this.base}:acc:${k}`; }
  shardVersion(k: number) { return `${this.base}:acc:${k}:v`; }
}

export const roundIndexKey = (prefix: string) => `${prefix}:rounds`;

/** Values per element of the stored result list (512 KiB of float64). */
export const RESULT_RUN_VALUES = 65_536;
