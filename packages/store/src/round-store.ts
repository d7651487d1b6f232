/**
 * The round registry in Redis: the one module that knows the key layout and
 * runs the scripts. Gateway and aggregators share rounds only through it.
 */
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import type { Cluster, Redis } from 'ioredis';
import {
  CkksParametersSchema,
  RoundAttestationSchema,
  RoundConfigSchema,
  RoundSchema,
  RoundState,
  type CkksParameters,
  type Round,
  type RoundAttestation,
  type RoundConfig,
} from '@secagg/proto';
import { groupOwnersKey, liveRoundsKey, ownedRoundIndexKey, RoundKeys, roundIndexKey } from './keys.js';
import { StoreScripts } from './scripts.js';

export type StateName = 'OPEN' | 'CLOSED' | 'RELEASED' | 'FAILED';

const STATE_OF: Record<StateName, RoundState> = {
  OPEN: RoundState.OPEN,
  CLOSED: RoundState.CLOSED,
  RELEASED: RoundState.RELEASED,
  FAILED: RoundState.FAILED,
};

/** A round as stored. */
export interface RoundRecord {
  roundId: string;
  config: RoundConfig;
  ckks: CkksParameters;
  state: StateName;
  committed: number;
  folded: number;
  createdMs: number;
  closedMs: number;
  reason: string;
  /** Token subject of the coordinator that created the round; '' for rounds created before rounds had owners. */
  owner: string;
}

export interface CommittedUpdate {
  updateId: string;
  sha256: string;
  count: number;
  committedMs: number;
}

/**
 * Where a released round's noisy sum is: an object of the round in the
 * ciphertext store (float64 LE, the round's vector length of them), with the
 * SHA-256 and length its reader checks it against. Redis never holds the sum.
 */
export interface ResultObject {
  /** The object's name within the round (ciphertext-store ObjectKey.name). */
  name: string;
  /** SHA-256 of the object's bytes, lower-case hex. */
  sha256: string;
  /** The object's length in bytes. */
  bytes: number;
}

/** A released round's result as recorded: its header and where its sum is. */
export interface RecordedResult {
  /** ResultHeader, protobuf binary. */
  header: Buffer;
  /**
   * Where the sum is; undefined for a round released by a version that kept
   * the sum in Redis (read it with `legacyResultRuns`).
   */
  object: ResultObject | undefined;
}

export type CommitOutcome =
  | { kind: 'committed'; committedMs: number; closedNow: boolean }
  | { kind: 'exists'; update: CommittedUpdate }
  | { kind: 'client-has-update'; otherUpdateId: string }
  | { kind: 'not-found' }
  | { kind: 'not-open'; state: StateName }
  /** Refused: Redis's clock is past the deadline. The round is CLOSED now (by this call or an earlier one). */
  | { kind: 'past-deadline'; closedMs: number };

export function toRoundMessage(record: RoundRecord): Round {
  return create(RoundSchema, {
    roundId: record.roundId,
    config: record.config,
    ckks: record.ckks,
    state: STATE_OF[record.state],
    committedCount: record.committed,
    foldedCount: record.folded,
    createdUnixMs: BigInt(record.createdMs),
    closedUnixMs: BigInt(record.closedMs),
    failureReason: record.reason,
  });
}

/**
 * Rounds in Redis, on a single Redis or a Redis Cluster (the command API is
 * the same). Cluster-safe by construction: every script and MULTI below
 * touches only keys of one round, which share the round's hash slot; the
 * round index (another slot) is only ever written by a command of its own.
 */
export class RoundStore {
  private readonly scripts: StoreScripts;

  constructor(
    /** The connection: the store's own, never handed out (every key and script of the schema is behind this class and its siblings). */
    private readonly redis: Redis | Cluster,
    readonly prefix: string,
  ) {
    this.scripts = new StoreScripts(redis);
  }

  keys(roundId: string): RoundKeys {
    return new RoundKeys(this.prefix, roundId);
  }

  /** Publishes a new round (state OPEN), owned by `owner`. Fails if the id exists. */
  async createRound(input: {
    roundId: string;
    owner: string;
    config: RoundConfig;
    ckks: CkksParameters;
    publicKey: Uint8Array;
    /** The keyholder's signed statement of the round, relayed to clients as is. */
    attestation: RoundAttestation | undefined;
    createdMs: number;
  }): Promise<boolean> {
    const k = this.keys(input.roundId);
    const fields = {
      state: 'OPEN',
      config: Buffer.from(toBinary(RoundConfigSchema, input.config)),
      ckks: Buffer.from(toBinary(CkksParametersSchema, input.ckks)),
      committed: '0',
      folded: '0',
      createdAt: String(input.createdMs),
      closedAt: '0',
      maxClients: String(input.config.maxClients),
      // Read by commit-update and close-round against Redis's clock (one clock decides the deadline).
      deadlineAt: String(input.config.deadlineUnixMs),
      reason: '',
      ...(input.attestation ? { attestation: Buffer.from(toBinary(RoundAttestationSchema, input.attestation)) } : {}),
      owner: input.owner,
    };
    // The public key goes first: a round visible in meta always has its key.
    await this.redis.set(k.publicKey, Buffer.from(input.publicKey));
    const created = await this.redis.hsetnx(k.meta, 'state', 'OPEN');
    if (created === 0) return false;
    // The index lives in another hash slot than the round, so it cannot share a
    // MULTI with meta on a Redis Cluster. It is written first: a crash in
    // between leaves an index entry whose round has no config, which
    // getRound() reports as absent and listing skips; every complete round is
    // listed.
    await this.redis.zadd(roundIndexKey(this.prefix), input.createdMs, input.roundId);
    await this.redis.zadd(ownedRoundIndexKey(this.prefix, input.owner), input.createdMs, input.roundId);
    await this.redis.zadd(liveRoundsKey(this.prefix), String(input.config.deadlineUnixMs), input.roundId);
    await this.redis.hset(k.meta, fields);
    return true;
  }

  async getRound(roundId: string): Promise<RoundRecord | undefined> {
    const meta = await this.redis.hgetallBuffer(this.keys(roundId).meta);
    if (!meta.config || !meta.ckks || !meta.state) return undefined;
    const text = (name: string) => meta[name]?.toString() ?? '';
    return {
      roundId,
      config: fromBinary(RoundConfigSchema, meta.config),
      ckks: fromBinary(CkksParametersSchema, meta.ckks),
      state: text('state') as StateName,
      committed: Number(text('committed')),
      folded: Number(text('folded')),
      createdMs: Number(text('createdAt')),
      closedMs: Number(text('closedAt')),
      reason: text('reason'),
      owner: text('owner'),
    };
  }

  async getPublicKey(roundId: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys(roundId).publicKey);
  }

  /** The keyholder's attestation of the round (undefined for a round created before rounds were signed). */
  async getAttestation(roundId: string): Promise<RoundAttestation | undefined> {
    const bytes = await this.redis.hgetBuffer(this.keys(roundId).meta, 'attestation');
    return bytes ? fromBinary(RoundAttestationSchema, bytes) : undefined;
  }

  /** Round ids, newest first. */
  async listRoundIds(limit: number): Promise<string[]> {
    return this.redis.zrevrange(roundIndexKey(this.prefix), 0, limit - 1);
  }

  /** Ids of the rounds `owner` created, newest first. */
  async listRoundIdsOwnedBy(owner: string, limit: number): Promise<string[]> {
    return this.redis.zrevrange(ownedRoundIndexKey(this.prefix, owner), 0, limit - 1);
  }

  /** The subject owning a privacy group, or undefined while nobody has claimed it. */
  async privacyGroupOwner(group: string): Promise<string | undefined> {
    return (await this.redis.hget(groupOwnersKey(this.prefix), group)) ?? undefined;
  }

  /**
   * Claims a privacy group for `subject` unless someone owns it already (one
   * HSETNX: two coordinators racing for a new group get one owner). Returns
   * the owner afterwards, and whether this call made the claim.
   */
  async claimPrivacyGroup(group: string, subject: string): Promise<{ owner: string; claimedNow: boolean }> {
    const key = groupOwnersKey(this.prefix);
    if ((await this.redis.hsetnx(key, group, subject)) === 1) return { owner: subject, claimedNow: true };
    return { owner: (await this.redis.hget(key, group)) ?? '', claimedNow: false };
  }

  /** Undoes `subject`'s claim of `group` (when the claiming action was refused); never removes another's claim. */
  async releasePrivacyGroupClaim(group: string, subject: string): Promise<void> {
    await this.scripts.run<number>('releaseGroupClaim', [groupOwnersKey(this.prefix)], [group, subject]);
  }

  async committedUpdateOf(roundId: string, clientId: string): Promise<CommittedUpdate | undefined> {
    const k = this.keys(roundId);
    const updateId = await this.redis.hget(k.clients, clientId);
    if (updateId === null) return undefined;
    const [sha256, count, committedAt] = await this.redis.hmget(k.update(clientId), 'sha256', 'count', 'committedAt');
    return { updateId, sha256: sha256 ?? '', count: Number(count), committedMs: Number(committedAt) };
  }

  /**
   * The Poisson sampling decision of `clientId` for a round: `draw` (true:
   * admitted) unless a decision is recorded already, which then stands (the
   * first draw wins a race between gateways; a retry gets the same answer).
   * Decisions are kept until `retainUntilMs` (commands/decideSampling-1.lua).
   */
  async decideSampling(roundId: string, clientId: string, draw: boolean, retainUntilMs: number): Promise<boolean> {
    const decision = await this.scripts.run<string>('decideSampling', [this.keys(roundId).sampled], [clientId, draw ? '1' : '0', retainUntilMs]);
    return decision === '1';
  }

  /**
   * Records a complete upload whose ciphertexts are durable in the ciphertext
   * store as object `objectName`: the client's committed update, appended to
   * the round's commit log, atomically (commands/commitUpdate-4.lua).
   */
  async commitUpdate(input: {
    roundId: string;
    clientId: string;
    updateId: string;
    objectName: string;
    sha256: string;
    count: number;
  }): Promise<CommitOutcome> {
    const k = this.keys(input.roundId);
    const [status, a, b, c] = await this.scripts.run<(string | null)[]>(
      'commitUpdate',
      [k.meta, k.clients, k.update(input.clientId), k.commitLog],
      [input.updateId, input.clientId, input.sha256, input.count, input.objectName],
    );
    switch (status) {
      case 'COMMITTED':
        return { kind: 'committed', committedMs: Number(a), closedNow: b === '1' };
      case 'EXISTS':
        return {
          kind: 'exists',
          update: { updateId: input.updateId, sha256: a ?? '', count: Number(b), committedMs: Number(c) },
        };
      case 'CLIENT_HAS_UPDATE':
        return { kind: 'client-has-update', otherUpdateId: a ?? '' };
      case 'NOT_FOUND':
        return { kind: 'not-found' };
      case 'NOT_OPEN':
        return { kind: 'not-open', state: a as StateName };
      case 'PAST_DEADLINE':
        return { kind: 'past-deadline', closedMs: Number(a) };
      default:
        throw new Error(`commit-update returned ${String(status)}`);
    }
  }

  /** Closes an open round now (on request); returns the state afterwards (undefined: no such round). */
  async closeRound(roundId: string): Promise<StateName | undefined> {
    const [state] = await this.scripts.run<string[]>('closeRound', [this.keys(roundId).meta], ['request']);
    return state === '' || state === undefined ? undefined : (state as StateName);
  }

  /**
   * Closes an open round if its deadline has passed by Redis's clock. Returns
   * the state afterwards (undefined: no such round) and, for a round still
   * OPEN, the ms left until its deadline.
   */
  async closeAtDeadline(roundId: string): Promise<{ state: StateName | undefined; remainingMs: number }> {
    const [state, remaining] = await this.scripts.run<string[]>('closeRound', [this.keys(roundId).meta], ['deadline']);
    return { state: state === '' || state === undefined ? undefined : (state as StateName), remainingMs: Number(remaining ?? 0) };
  }

  /** Rounds that may still need work, with their deadlines (ms): created, and not yet seen finished by a sweep. */
  async liveRounds(): Promise<{ roundId: string; deadlineMs: number }[]> {
    const flat = await this.redis.zrange(liveRoundsKey(this.prefix), 0, -1, 'WITHSCORES');
    const rounds: { roundId: string; deadlineMs: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) rounds.push({ roundId: flat[i]!, deadlineMs: Number(flat[i + 1]) });
    return rounds;
  }

  /** Drops a finished round from the live list. */
  async forgetLiveRound(roundId: string): Promise<void> {
    await this.redis.zrem(liveRoundsKey(this.prefix), roundId);
  }

  /** Redis's clock, ms: the one clock deadlines are decided by. */
  async redisTimeMs(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  /** clientId -> updateId of every committed update. */
  async committedUpdates(roundId: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys(roundId).clients)));
  }

  /**
   * Committed updates not yet folded into every range, summed over the live
   * rounds (the fold backlog the gateway bounds): committed - folded of each.
   */
  async unfoldedUpdates(): Promise<number> {
    const live = await this.redis.zrange(liveRoundsKey(this.prefix), 0, -1);
    // One command per round (each round has its own hash slot: a Redis Cluster refuses a cross-slot pipeline).
    const rounds = await Promise.all(live.map((roundId) => this.redis.hmget(this.keys(roundId).meta, 'state', 'committed', 'folded')));
    let unfolded = 0;
    for (const [state, committed, folded] of rounds) {
      if (state === 'OPEN' || state === 'CLOSED') unfolded += Math.max(0, Number(committed ?? 0) - Number(folded ?? 0));
    }
    return unfolded;
  }

  /** Raises the round's `folded` counter (updates durably folded into every range) to at least `folded`. */
  async raiseFolded(roundId: string, folded: number): Promise<number> {
    return Number(await this.scripts.run<number>('raiseFolded', [this.keys(roundId).meta], [folded]));
  }

  /**
   * Records a release whose sum is durable in the ciphertext store as
   * `object`, with its header, and marks the round RELEASED, in one step
   * (commands/finishRound-3.lua). Returns the state afterwards (undefined: no
   * such round) and the name of the result object Redis records — which is
   * another attempt's when that one recorded first; `object` is then an
   * orphan for the caller to delete.
   */
  async recordRelease(roundId: string, header: Uint8Array, object: ResultObject, nowMs: number): Promise<{ state: StateName | undefined; objectName: string }> {
    const k = this.keys(roundId);
    const [state, objectName] = await this.scripts.run<[string, string]>(
      'finishRound',
      [k.meta, k.resultHeader, k.resultObject],
      ['RELEASED', nowMs, Buffer.from(header), object.name, object.sha256, object.bytes],
    );
    return { state: state === '' ? undefined : (state as StateName), objectName };
  }

  async failRound(roundId: string, reason: string, nowMs: number): Promise<StateName | undefined> {
    const k = this.keys(roundId);
    const [state] = await this.scripts.run<[string, string]>('finishRound', [k.meta, k.resultHeader, k.resultObject], ['FAILED', nowMs, reason]);
    return state === '' ? undefined : (state as StateName);
  }

  /**
   * Deletes the Redis side of what a finished round no longer needs: its
   * commit log and range progress (`rangeCount` ranges). Its ciphertext
   * objects are the ciphertext store's to delete (the aggregator does both).
   */
  async dropWorkingSet(roundId: string, rangeCount: number): Promise<void> {
    const k = this.keys(roundId);
    const keys = [k.commitLog];
    for (let i = 0; i < rangeCount; i++) keys.push(k.range(i));
    await this.redis.unlink(...keys);
  }

  /**
   * A released round's result record, or undefined when it has none (not
   * released). Written once by finishRound and never changed, so two reads
   * see one record. A record whose object fields are malformed reads as
   * having no object.
   */
  async readResult(roundId: string): Promise<RecordedResult | undefined> {
    const k = this.keys(roundId);
    const [header, object] = await Promise.all([this.redis.getBuffer(k.resultHeader), this.redis.hgetall(k.resultObject)]);
    if (!header) return undefined;
    const bytes = Number(object.bytes);
    const valid = !!object.name && /^[0-9a-f]{64}$/.test(object.sha256 ?? '') && Number.isSafeInteger(bytes) && bytes >= 0;
    return { header, object: valid ? { name: object.name!, sha256: object.sha256!, bytes } : undefined };
  }

  /**
   * The sum of a round released by a version that stored it in Redis
   * (`result:sum`, float64 LE runs), one run at a time; nothing when there is
   * none. Read only: results are no longer written there, and these stay
   * until the round's data is deleted, as they always did.
   */
  async *legacyResultRuns(roundId: string): AsyncGenerator<Buffer> {
    const key = this.keys(roundId).legacyResultSum;
    const runs = await this.redis.llen(key);
    for (let r = 0; r < runs; r++) {
      const run = await this.redis.lindexBuffer(key, r);
      if (!run) throw new Error(`legacy result run ${r} of round ${roundId} is missing`);
      yield run;
    }
  }
}
