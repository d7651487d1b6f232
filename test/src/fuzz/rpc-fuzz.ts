/**
 * RPC-level fuzzing of a real cluster (gateway, aggregator, keyholder as
 * processes, TLS, Redis). Shared by fuzz-rpc.int.test.ts (CI budget) and
 * run.ts (`npm run fuzz`, long runs).
 *
 * Properties, each with its own fast-check run:
 *  - unary: random and mutated request bytes for every unary and
 *    server-streaming RPC of the gateway, and the keyholder's unary RPCs
 *    (as the peer allowed to call them): the status is one the RPC documents,
 *    never UNKNOWN or INTERNAL;
 *  - streams: honest and broken update streams into one round (the honest
 *    round), each answered with exactly the status the contract demands
 *    (stream-plans.ts); honest ones are committed and must be in the sum;
 *  - garbage frames: mutated bytes of update frames into another round, where
 *    anything the validator lets through may be committed: documented
 *    statuses only, and the round must still end (released or refused);
 *  - releases: mutated release streams into the keyholder (as an aggregator)
 *    for keyholder-only rounds: documented statuses only, and SEAL never
 *    throws (the keyholder's log is checked afterwards).
 * Afterwards: every process still runs, an honest request still works, the
 * honest round releases exactly the sum of its honest updates, no staging
 * list is left behind, and no service logged an error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { create, toBinary, fromBinary, type DescMessage, type DescMethod, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, codeName } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { formatOf, toCkksParams } from '@secagg/protocol';
import {
  ClientService,
  CoordinatorService,
  CreateRoundKeyRequestSchema,
  CreateRoundKeyResponseSchema,
  KeyholderService,
  ReleaseRoundRequestSchema,
  RoundConfigSchema,
  RoundState,
  SubmitUpdateRequestSchema,
  type RoundConfig,
} from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { clipToNorm, type SecaggClient } from '@secagg/sdk';
import { Redis } from 'ioredis';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, waitForEnd } from '../helpers.js';
import { bearer, describeOutcome, RawGrpcClient, type RawOutcome } from './raw-client.js';
import { mutatedMessage } from './protobuf-mutations.js';
import { invalidCiphertext, mutatedCiphertext, type CiphertextPool } from './ciphertext-mutations.js';
import { committedValues, expectedCodes, framesOf, streamPlan, type StreamTarget } from './stream-plans.js';
import { chunkFrame, honestFrames, roundForUpload, serialize, sha256Of, trailerFrame } from './update-frames.js';

/** How long the gateway waits for the next frame of an upload in the fuzz cluster, ms (GATEWAY_STREAM_IDLE_TIMEOUT_MS). */
export const FUZZ_IDLE_TIMEOUT_MS = 1_000;
/** Values per honest update: three coefficient-encoded n4096 ciphertexts (five slot-encoded), the last one partly padding. */
const HONEST_LENGTH = 2 * 4096 + 100;
const GARBAGE_LENGTH = 100;

type Role = 'client' | 'coordinator' | 'operator';

/** The round of the stream property: honest uploads and contract-checked broken streams. */
export type HonestRound = StreamTarget & {
  /** Values of every update that got a receipt. */
  committed: Float64Array[];
};

export interface FuzzCluster {
  cluster: LocalCluster;
  gateway: RawGrpcClient;
  keyholderAsGateway: RawGrpcClient;
  keyholderAsAggregator: RawGrpcClient;
  owner: SecaggClient;
  token(role: Role): Promise<string>;
  /** The round whose sum is checked: honest uploads and contract-checked broken streams. */
  honest: HonestRound;
  /** Ciphertexts of other parameters, for broken streams. */
  otherParameters: Uint8Array[];
  /** The round that takes byte-level garbage. */
  garbage: { roundId: string; frames: Uint8Array[]; pool: CiphertextPool };
  decoys: { open: string; released: string; closable: string };
  /** Keyholder-only rounds (created as the gateway identity) for release fuzzing, with a valid release stream each. */
  keyholderRounds: { roundId: string; frames: Uint8Array[]; pool: CiphertextPool }[];
  dispose(): Promise<void>;
}

/** Counts by RPC (or stream kind) and status, for the report. */
export type FuzzStats = Record<string, Record<string, number>>;

function count(stats: FuzzStats, what: string, outcome: RawOutcome): void {
  const byStatus = (stats[what] ??= {});
  const name = codeName(outcome.code);
  byStatus[name] = (byStatus[name] ?? 0) + 1;
}

const roundConfig = (overrides: Partial<RoundConfig> = {}): RoundConfig => {
  const config = create(RoundConfigSchema, {
    vectorLength: 10,
    minClients: 1,
    maxClients: 10,
    deadlineUnixMs: inMinutes(60),
    clipNorm: 1,
    noiseMultiplier: 0,
    unsafeDisableNoise: true,
  });
  return Object.assign(config, overrides);
};

/**
 * A round for the stream property, whose released sum is checked: its own
 * privacy group (a noise-free release spends a whole group), and a pool of
 * four honest updates encrypted under its key.
 */
export async function createHonestRound(owner: SecaggClient, capacity: number, otherParameters: Uint8Array[], batch: number): Promise<HonestRound> {
  const round = await owner.createRound({
    vectorLength: HONEST_LENGTH,
    privacyGroup: `fuzz-honest-${batch}`,
    minClients: 2,
    maxClients: capacity,
    deadlineUnixMs: inMinutes(120),
    clipNorm: 1,
    noiseMultiplier: 0,
    unsafeDisableNoise: true,
  });
  const upload = await roundForUpload(await owner.getRound(round.roundId));
  try {
    const values = [1, 2, 3, 4].map((seed) => clipToNorm(makeUpdate(HONEST_LENGTH, 1_000 * batch + seed, 0.9), 1).values);
    const updates = values.map((v) => upload.encrypt(v));
    return {
      roundId: round.roundId,
      vectorLength: HONEST_LENGTH,
      ciphertextCount: upload.ciphertextCount,
      pool: { format: upload.format, valid: updates.flat(), otherKey: [], otherParameters },
      updates,
      values,
      valuesPerCiphertext: upload.valuesPerCiphertext,
      committed: [],
    };
  } finally {
    upload.dispose();
  }
}

/** Starts a cluster for fuzzing and prepares its rounds. `honestCapacity` bounds the honest round's max_clients. */
export async function startFuzzCluster(options: { honestCapacity?: number } = {}): Promise<FuzzCluster> {
  const cluster = await LocalCluster.start({
    aggregators: 1,
    allowUnsafeNoiseFreeRelease: true,
    env: { 'client-gateway': { GATEWAY_STREAM_IDLE_TIMEOUT_MS: String(FUZZ_IDLE_TIMEOUT_MS) } },
  });
  try {
    const gateway = new RawGrpcClient(cluster.gatewayAddress, cluster.channelCredentials());
    const keyholderAsGateway = new RawGrpcClient(cluster.keyholderAddress, cluster.channelCredentials('client-gateway'));
    const keyholderAsAggregator = new RawGrpcClient(cluster.keyholderAddress, cluster.channelCredentials('aggregator'));
    const owner = await cluster.client('coordinator', 'fuzz-owner');
    let subjects = 0;
    // Coordinator calls come from the owner of the rounds and groups they name, so
    // only the bytes are at fault (ownership is authorization.int.test.ts' subject).
    const token = (role: Role) => cluster.token(role, role === 'coordinator' ? 'fuzz-owner' : `fuzz-${role}-${++subjects}`);

    // Foreign ciphertexts for broken streams: another preset (refused by length).
    const other = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const otherParameters = [other.createEncryptor(other.generateKeyPair().publicKey).encrypt(new Float64Array([1]))];
    other.dispose();
    const honest = await createHonestRound(owner, options.honestCapacity ?? 1_000, otherParameters, 1);

    // The garbage round: one ciphertext per update.
    const garbageRound = await owner.createRound({
      vectorLength: GARBAGE_LENGTH,
      privacyGroup: 'fuzz-garbage',
      minClients: 1,
      maxClients: 5_000,
      deadlineUnixMs: inMinutes(120),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
    });
    const garbageUpload = await roundForUpload(await owner.getRound(garbageRound.roundId));
    const garbageCiphertexts = [5, 6].map((seed) => garbageUpload.encrypt(makeUpdate(GARBAGE_LENGTH, seed, 0.5))[0]!);
    const garbageFrames = honestFrames(garbageUpload, 'garbage-seed', garbageCiphertexts.slice(0, 1)).map(serialize);
    // Well-formed ciphertexts under another key of the same parameters: they pass validation.
    const stranger = await CkksEngine.create(toCkksParams((await owner.getRound(garbageRound.roundId)).round!.ckks!));
    const strangerCiphertext = stranger.createEncryptor(stranger.generateKeyPair().publicKey).encrypt(new Float64Array([0.5]));
    stranger.dispose();
    const garbagePool: CiphertextPool = { format: garbageUpload.format, valid: garbageCiphertexts, otherKey: [strangerCiphertext], otherParameters };
    garbageUpload.dispose();

    // Decoys for the unary RPCs: one stays open, one is released, one may be closed.
    // Every round that may release spends its own privacy group (a noise-free release spends it all).
    const decoys = {
      open: (await owner.createRound({ ...roundConfig({ privacyGroup: 'fuzz-decoy-open' }) })).roundId,
      released: (await owner.createRound({ ...roundConfig({ maxClients: 1, privacyGroup: 'fuzz-decoy-released' }) })).roundId,
      closable: (await owner.createRound({ ...roundConfig({ privacyGroup: 'fuzz-decoy-closable' }) })).roundId,
    };
    const first = await cluster.client('client', 'fuzz-decoy-client');
    await first.submitUpdate(decoys.released, makeUpdate(10, 1, 0.5));
    first.close();
    assert.equal((await waitForEnd(owner, decoys.released)).state, RoundState.RELEASED);

    // Keyholder-only rounds, each with a valid release stream of one ciphertext.
    const keyholderRounds: FuzzCluster['keyholderRounds'] = [];
    for (let i = 0; i < 4; i++) {
      const roundId = `fuzz-kh-${i}`;
      const request = create(CreateRoundKeyRequestSchema, { roundId, config: roundConfig({ vectorLength: 50, maxClients: 1, noiseMultiplier: 2, unsafeDisableNoise: false, privacyGroup: `fuzz-kh-${i}` }) });
      const made = await keyholderAsGateway.unary(KeyholderService.method.createRoundKey, toBinary(CreateRoundKeyRequestSchema, request), bearer(undefined));
      assert.equal(made.code, Code.Ok, describeOutcome(made));
      const { ckks, publicKey } = fromBinary(CreateRoundKeyResponseSchema, made.responses[0]!);
      const params = toCkksParams(ckks!);
      const engine = await CkksEngine.create(params);
      const ciphertexts = [...encryptVector(engine.createEncryptor(publicKey), params, new Float64Array(50).fill(0.01))];
      engine.dispose();
      const frames = [
        create(ReleaseRoundRequestSchema, { frame: { case: 'header', value: { roundId, contributionCount: 1, contributorsSha256: new Uint8Array(32).fill(i), ciphertextCount: ciphertexts.length } } }),
        ...ciphertexts.map((ciphertext, index) => create(ReleaseRoundRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } })),
      ].map((m) => toBinary(ReleaseRoundRequestSchema, m));
      keyholderRounds.push({ roundId, frames, pool: { format: formatOf(ckks!), valid: ciphertexts, otherKey: [], otherParameters } });
    }

    return {
      cluster,
      gateway,
      keyholderAsGateway,
      keyholderAsAggregator,
      owner,
      token,
      honest,
      otherParameters,
      garbage: { roundId: garbageRound.roundId, frames: garbageFrames, pool: garbagePool },
      decoys,
      keyholderRounds,
      async dispose() {
        gateway.close();
        keyholderAsGateway.close();
        keyholderAsAggregator.close();
        owner.close();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

interface UnaryTarget {
  name: string;
  method: DescMethod;
  /** Who calls: a token role (gateway) or a peer identity (keyholder). */
  caller: Role | 'gateway-peer';
  valid: Uint8Array;
  allowed: Code[];
}

function unaryTargets(f: FuzzCluster): UnaryTarget[] {
  const { open, released, closable } = f.decoys;
  const { Ok, InvalidArgument, NotFound, FailedPrecondition, AlreadyExists } = Code;
  return [
    unaryTarget(ClientService.method.getRound, 'client', { roundId: open }, [Ok, InvalidArgument, NotFound]),
    unaryTarget(ClientService.method.getResult, 'client', { roundId: released, valuesPerMessage: 7 }, [Ok, InvalidArgument, NotFound, FailedPrecondition]),
    unaryTarget(CoordinatorService.method.createRound, 'coordinator', { config: roundConfig({ privacyGroup: 'fuzz-created' }) }, [Ok, InvalidArgument, FailedPrecondition]),
    unaryTarget(CoordinatorService.method.closeRound, 'coordinator', { roundId: closable }, [Ok, InvalidArgument, NotFound]),
    unaryTarget(CoordinatorService.method.listRounds, 'operator', { limit: 3 }, [Ok, InvalidArgument]),
    unaryTarget(CoordinatorService.method.getRoundStatus, 'operator', { roundId: open }, [Ok, InvalidArgument, NotFound]),
    unaryTarget(CoordinatorService.method.setPrivacyBudget, 'coordinator', { privacyGroup: 'fuzz-budget', epsilon: 5 }, [Ok, InvalidArgument]),
    unaryTarget(CoordinatorService.method.getPrivacyBudget, 'operator', { privacyGroup: 'fuzz-budget' }, [Ok, InvalidArgument]),
    unaryTarget(KeyholderService.method.createRoundKey, 'gateway-peer', { roundId: 'fuzz-kh-made', config: roundConfig({ privacyGroup: 'fuzz-created' }) }, [Ok, InvalidArgument, AlreadyExists, FailedPrecondition]),
    // The fuzzed keyholder is a single keyholder: a share request is refused by policy (FAILED_PRECONDITION) past its checks.
    unaryTarget(KeyholderService.method.createKeyShare, 'gateway-peer', { roundId: 'fuzz-kh-share', config: roundConfig({ privacyGroup: 'fuzz-created' }) }, [InvalidArgument, FailedPrecondition]),
    unaryTarget(KeyholderService.method.signCollectiveKey, 'gateway-peer', { roundId: 'fuzz-kh-made', publicKeyShares: [new Uint8Array(8)] }, [InvalidArgument, NotFound, FailedPrecondition]),
    unaryTarget(KeyholderService.method.dealKeyShares, 'gateway-peer', { roundId: 'fuzz-kh-made', dealingKeys: [{ x25519PublicKey: new Uint8Array(32) }] }, [InvalidArgument, NotFound, FailedPrecondition]),
    unaryTarget(KeyholderService.method.acceptKeyShares, 'gateway-peer', { roundId: 'fuzz-kh-made', dealingKeys: [], encryptedShares: [new Uint8Array(8)] }, [InvalidArgument, NotFound, FailedPrecondition]),
    unaryTarget(KeyholderService.method.setGroupPrivacyBudget, 'gateway-peer', { privacyGroup: 'fuzz-budget', epsilon: 5 }, [Ok, InvalidArgument]),
    unaryTarget(KeyholderService.method.getGroupPrivacyBudget, 'gateway-peer', { privacyGroup: 'fuzz-budget' }, [Ok, InvalidArgument]),
  ];
}

/** The target of one RPC, named `Service.Method` as the coverage check reads it, with its valid request serialized. */
function unaryTarget<I extends DescMessage>(method: DescMethod & { input: I }, caller: UnaryTarget['caller'], request: MessageInitShape<I>, allowed: Code[]): UnaryTarget {
  return { name: `${method.parent.name}.${method.name}`, method, caller, valid: toBinary(method.input, create(method.input, request)), allowed };
}

/** Random and mutated requests for every unary and server-streaming RPC. */
export async function fuzzUnary(f: FuzzCluster, settings: { numRuns: number; seed: number }, stats: FuzzStats): Promise<void> {
  const targets = unaryTargets(f);
  const covered = new Set(targets.map((t) => t.name));
  for (const service of [ClientService, CoordinatorService, KeyholderService]) {
    for (const m of service.methods) {
      if (m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming') continue; // fuzzed as streams
      assert.ok(covered.has(`${service.name}.${m.name}`), `no fuzz target for ${service.name}.${m.name}`);
    }
  }
  const arbitrary = fc.oneof(...targets.map((t) => mutatedMessage(t.valid).map((bytes) => [t, bytes] as const)));
  await fc.assert(
    fc.asyncProperty(arbitrary, async ([target, bytes]) => {
      const outcome =
        target.caller === 'gateway-peer'
          ? await f.keyholderAsGateway.unary(target.method, bytes, bearer(undefined))
          : target.method.methodKind === 'server_streaming'
            ? await f.gateway.serverStream(target.method, bytes, bearer(await f.token(target.caller)))
            : await f.gateway.unary(target.method, bytes, bearer(await f.token(target.caller)));
      count(stats, target.name, outcome);
      assert.ok(target.allowed.includes(outcome.code), `${target.name} answered ${describeOutcome(outcome)} to ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
    }),
    { numRuns: settings.numRuns, seed: settings.seed },
  );
}

/** Honest and broken upload streams into the honest round, each against the contract's oracle. */
export async function fuzzStreams(f: FuzzCluster, settings: { numRuns: number; seed: number }, stats: FuzzStats): Promise<void> {
  const target = f.honest;
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(streamPlan(target), async (plan) => {
      const updateId = `fuzz-${++cases}`;
      const frames = framesOf(plan, target, updateId);
      const expected = expectedCodes(frames, plan.ending, target);
      const outcome = await f.gateway.clientStream(ClientService.method.submitUpdate, frames.map((fr) => serialize(fr.message)), bearer(await f.token('client')), {
        kind: plan.ending,
      });
      count(stats, `SubmitUpdate ${plan.ending}`, outcome);
      if (outcome.code === Code.Ok) target.committed.push(committedValues(frames, target));
      assert.ok(
        expected.includes(outcome.code),
        `plan ${JSON.stringify(plan, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}: expected ${expected.map(codeName).join(' or ')}, got ${describeOutcome(outcome)}`,
      );
    }),
    { numRuns: settings.numRuns, seed: settings.seed },
  );
}

/** Byte-level garbage in update frames, into the garbage round. */
export async function fuzzGarbageFrames(f: FuzzCluster, settings: { numRuns: number; seed: number }, stats: FuzzStats): Promise<void> {
  const seedFrames = f.garbage.frames;
  const { pool } = f.garbage;
  const chunkAt = (index: number, ciphertext: Uint8Array) => serialize(chunkFrame(index, ciphertext));
  const frameLists = fc.oneof(
    // One frame mutated at byte level.
    fc.nat(seedFrames.length - 1).chain((i) => mutatedMessage(seedFrames[i]!).map((m) => seedFrames.map((fr, j) => (j === i ? m : fr)))),
    // The ciphertext mutated inside a well-formed chunk frame: bit flips, other keys, coefficients >= q, ...
    mutatedCiphertext(pool).map((m) => [seedFrames[0]!, chunkAt(0, m.bytes), seedFrames.at(-1)!]),
    // Frames of random bytes.
    fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }),
    // A mutated chunk frame inserted anywhere.
    fc.tuple(fc.nat(seedFrames.length), mutatedMessage(seedFrames[1]!)).map(([i, chunk]) => [...seedFrames.slice(0, i), chunk, ...seedFrames.slice(i)]),
  );
  await fc.assert(
    fc.asyncProperty(frameLists, fc.boolean(), async (mutated, consistentDigest) => {
      // A hostile client computes its trailer over what it really sends: then garbage that
      // still parses and passes validation is committed and folded, and the release must cope.
      const frames = consistentDigest ? withMatchingTrailer(mutated) : mutated;
      const outcome = await f.gateway.clientStream(ClientService.method.submitUpdate, frames, bearer(await f.token('client')), { kind: 'half-close' });
      count(stats, 'SubmitUpdate garbage', outcome);
      const allowed = [Code.Ok, Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.AlreadyExists];
      assert.ok(allowed.includes(outcome.code), `garbage frames answered ${describeOutcome(outcome)}`);
    }),
    { numRuns: settings.numRuns, seed: settings.seed },
  );
}

/** `frames` with the trailer replaced by the digest of the chunks they carry (when every frame parses). */
function withMatchingTrailer(frames: Uint8Array[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (const bytes of frames) {
    let frame;
    try {
      frame = fromBinary(SubmitUpdateRequestSchema, bytes).frame;
    } catch {
      return frames;
    }
    if (frame.case === 'chunk') chunks.push(frame.value.ciphertext);
  }
  return [...frames.slice(0, -1), serialize(trailerFrame(sha256Of(chunks)))];
}

/** Mutated release streams into the keyholder, as an aggregator, for keyholder-only rounds. */
export async function fuzzReleases(f: FuzzCluster, settings: { numRuns: number; seed: number }, stats: FuzzStats): Promise<void> {
  const rounds = f.keyholderRounds;
  const serializeChunk = (index: number, ciphertext: Uint8Array) =>
    toBinary(ReleaseRoundRequestSchema, create(ReleaseRoundRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } }));
  const streams = fc.nat(rounds.length - 1).chain((r) => {
    const { frames, pool } = rounds[r]!;
    return fc.oneof(
      fc.tuple(fc.nat(frames.length - 1), mutatedMessage(frames[0]!)).chain(([i]) => mutatedMessage(frames[i]!).map((m) => frames.map((fr, j) => (j === i ? m : fr)))),
      invalidCiphertext(pool).map((bad) => [frames[0]!, serializeChunk(0, bad.bytes)]),
      fc.constantFrom([frames[0]!], [frames[0]!, frames[0]!], [frames[1]!], [frames[0]!, frames[1]!, frames[1]!], [frames[0]!, serializeChunk(1, pool.valid[0]!)]),
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }),
    );
  });
  await fc.assert(
    fc.asyncProperty(streams, async (frames) => {
      const outcome = await f.keyholderAsAggregator.bidiStream(KeyholderService.method.releaseRound, frames, bearer(undefined));
      count(stats, 'KeyholderService.ReleaseRound', outcome);
      const allowed = [Code.Ok, Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition];
      assert.ok(allowed.includes(outcome.code), `release stream answered ${describeOutcome(outcome)}`);
    }),
    { numRuns: settings.numRuns, seed: settings.seed },
  );
}

/** Log lines of every service at level error or worse, and any mention of SEAL failing. */
export function serviceErrors(cluster: LocalCluster): string[] {
  const bad: string[] = [];
  for (const name of cluster.processNames()) {
    const text = readFileSync(join(cluster.logDir, `${name}.log`), 'utf8');
    for (const line of text.split('\n')) {
      if (/"level":(50|60)|seal_error|SEAL failed|WebAssembly\.Exception/.test(line)) bad.push(`${name}: ${line.slice(0, 400)}`);
    }
  }
  return bad;
}

/**
 * The honest round after its streams: a later honest request still works,
 * nothing is left staged, and the round releases exactly the sum of the
 * updates that got a receipt. Returns how many fuzzed streams were committed.
 */
export async function checkHonestRound(f: FuzzCluster): Promise<number> {
  const { cluster, owner, honest } = f;
  const late = [makeUpdate(HONEST_LENGTH, 77, 2), makeUpdate(HONEST_LENGTH, 78, 0.3)];
  for (const [i, update] of late.entries()) {
    const client = await cluster.client('client', `fuzz-late-${honest.roundId}-${i}`);
    await client.submitUpdate(honest.roundId, update);
    client.close();
  }
  const expected = clippedSum([...honest.committed, ...late], 1);
  const status = await owner.getRoundStatus(honest.roundId);
  assert.equal(status.committedCount, honest.committed.length + late.length, 'committed = honest streams that got a receipt + the late clients');

  // Nothing staged is left behind by cut, idle or refused streams.
  const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const staged = async () => {
      let found = 0;
      for await (const keys of redis.scanStream({ match: `${cluster.keyPrefix}:r:*:s:*`, count: 1_000 })) found += (keys as string[]).length;
      return found;
    };
    const deadline = Date.now() + 10_000;
    while ((await staged()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await staged(), 0, 'staging lists left behind');
  } finally {
    redis.disconnect();
  }

  await owner.closeRound(honest.roundId);
  const ended = await waitForEnd(owner, honest.roundId, 120_000);
  assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
  const result = await owner.getResult(honest.roundId);
  assert.equal(result.header.contributionCount, honest.committed.length + late.length);
  const error = maxAbsDiff(result.sum, expected);
  assert.ok(error < 1e-4 * Math.max(1, result.header.contributionCount / 10), `honest sum off by ${error}`);
  return honest.committed.length;
}

/**
 * After the fuzzing: every process still runs, the honest round checks out
 * (unless `honestChecked`), the garbage round ends (released, or refused by
 * the keyholder's range check), and no service logged an error or a SEAL
 * failure.
 */
export async function checkAftermath(f: FuzzCluster, options: { honestChecked?: boolean } = {}): Promise<{ honestCommitted: number; garbage: string }> {
  const { cluster, owner } = f;
  for (const name of cluster.processNames()) assert.ok(cluster.isRunning(name), `${name} is no longer running`);
  const honestCommitted = options.honestChecked ? f.honest.committed.length : await checkHonestRound(f);
  await owner.closeRound(f.garbage.roundId);
  const garbage = await waitForEnd(owner, f.garbage.roundId, 120_000);
  if (garbage.state === RoundState.FAILED) assert.match(garbage.failureReason, /noised sum is outside|required|contributions/);
  for (const name of cluster.processNames()) assert.ok(cluster.isRunning(name), `${name} is no longer running`);
  assert.deepEqual(serviceErrors(cluster), [], 'error-level log lines or SEAL failures');
  return {
    honestCommitted,
    garbage: `${RoundState[garbage.state]} after ${garbage.committedCount} garbage commits${garbage.failureReason ? `: ${garbage.failureReason}` : ''}`,
  };
}
