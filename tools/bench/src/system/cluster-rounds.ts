/**
 * The system figures of one preset × encoding: two real rounds on a fresh
 * LocalCluster (real services as child processes, TLS, a private
 * redis-server with the shipped config/redis.conf, so its memory peak and
 * every process's peak RSS are this configuration's alone).
 *
 * 1. Isolated round — each stage measured alone:
 *    - client encryption: the SDK path (clip, engine, key, encryptVector) on
 *      one thread, and the SDK's default EncryptionPool (one worker thread per
 *      core), with this round's key and parameters, in trials alternating
 *      with trials of its limit (raw encrypt, same key), so that all see the
 *      same load on a shared machine;
 *    - gateway ingest: S clients (separate connections) stream an update
 *      encrypted beforehand; acknowledged payload bytes / wall time from the
 *      first frame to the last receipt. The fold queue is paused meanwhile, so
 *      the gateway and Redis have the cores to themselves;
 *    - fold: the queue is resumed with all S updates committed; S·L values /
 *      time until the round reports every update folded;
 *    - release: from all folded to the result downloaded.
 * 2. End-to-end round — what a deployment sees: S client processes (already
 *    running, SEAL loaded, update in memory) submit with the SDK at once;
 *    round time from CreateRound to the result downloaded.
 * Both rounds check the released sum against the true sum of the clipped
 * updates (the cluster allows noise-free releases only because it is the
 * benchmark's own; with noise the check allows 10σ).
 */
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { estimateMaxError, type CkksParams, type Encoding as EncodingName, type PresetName } from '@secagg/ckks';
import { Code, isSecaggError } from '@secagg/core';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { Encoding, RoundState, type Round, type RoundConfigSchema } from '@secagg/proto';
import { toCkksParams } from '@secagg/protocol';
import { createRedis, queuePrefix, RoundQueues } from '@secagg/queue';
import { clipToNorm, EncryptionPool, type SecaggClient } from '@secagg/sdk';
import { benchScript, JsonChild } from '../child-process.js';
import { peakRssBytes } from '../proc-memory.js';
import { secondsSince, sleep } from '../timing.js';
import { ingestClient, streamUpdate } from '../update-stream.js';
import { clippedSumOf, makeUpdate, maxAbsDiff } from '../update-vectors.js';
import { encryptUpdate, measureRawEncryptRate, measureSdkEncryptRate, measureSdkPoolEncryptRate } from './client-encrypt.js';

export interface RoundSpec {
  preset: PresetName;
  encoding: EncodingName;
  clients: number;
  length: number;
  clipNorm: number;
  /** L2 norm of the generated updates before clipping (above clipNorm, so clipping really scales). */
  updateNorm: number;
  /**
   * The first noise multiplier tried; doubled while the keyholder refuses the
   * round for too small a noise-flooding margin (its policy, not the
   * benchmark's: noise costs the same time at any σ). 0: the test-only
   * noise-free release (lets the benchmark report the CKKS error).
   */
  noiseMultiplier: number;
  aggregators: number;
  /** Minimum duration of each client-encryption trial. */
  encryptSeconds: number;
  /** Trials of the client-encryption figure and its limit. */
  trials: number;
  /** Upper bound on any one wait (ingest, fold, release). */
  timeoutMs: number;
  log: (line: string) => void;
}

export interface ClusterFigures {
  /** The noise multiplier the rounds ran with (see RoundSpec.noiseMultiplier). */
  noiseMultiplier: number;
  ckks: { scaleBits: number; valuesPerCiphertext: number; ciphertextBytes: number; ciphertextCount: number };
  /** SDK path on the calling thread, one per trial. */
  clientEncryptValuesPerSec: number[];
  /** SDK default path (EncryptionPool), one per trial, and its thread count. */
  clientPoolEncryptValuesPerSec: number[];
  clientPoolThreads: number;
  /** The limit, one per trial, alternating with the above. */
  rawEncryptValuesPerSec: number[];
  isolated: {
    ingestPayloadBytes: number;
    ingestSeconds: number;
    foldSeconds: number;
    /** False when updates were folded during ingest (the pause did not hold): the fold figure then understates. */
    foldQueuePaused: boolean;
    releaseSeconds: number;
    maxAbsError: number;
  };
  endToEnd: {
    payloadBytes: number;
    roundSeconds: number;
    /** CreateRound to the last receipt (clients encrypt while they stream). */
    acknowledgedSeconds: number;
    /** Last receipt to every update folded. */
    foldLagSeconds: number;
    /** Every update folded to the result downloaded. */
    releaseSeconds: number;
    maxAbsError: number;
    clientPeakRssBytes: number;
  };
  /** VmHWM of every cluster process (services and redis-server), bytes. */
  peakRssBytes: Record<string, number>;
  redisUsedMemoryPeakBytes: number;
  /** Redis INFO counters over both rounds. */
  redisNetInputBytes: number;
  redisNetOutputBytes: number;
  redisAofRewrites: number;
}

const FINAL_STATES = [RoundState.RELEASED, RoundState.FAILED];
const POLL_MS = 20;

/** Polls the round until `done` holds; returns it. */
async function pollRound(coordinator: SecaggClient, roundId: string, done: (round: Round) => boolean, timeoutMs: number, what: string): Promise<Round> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const round = await coordinator.getRoundStatus(roundId);
    if (done(round)) return round;
    if (round.state === RoundState.FAILED) throw new Error(`round ${roundId} failed while waiting for ${what}: ${round.failureReason}`);
    if (Date.now() > deadline) throw new Error(`round ${roundId}: ${what} did not happen within ${timeoutMs} ms (state ${RoundState[round.state]})`);
    await sleep(POLL_MS);
  }
}

/** Waits for RELEASED (FAILED is an error) and downloads the sum. */
async function releasedSum(coordinator: SecaggClient, roundId: string, timeoutMs: number): Promise<Float64Array> {
  const ended = await pollRound(coordinator, roundId, (r) => FINAL_STATES.includes(r.state), timeoutMs, 'the release');
  if (ended.state !== RoundState.RELEASED) throw new Error(`round ${roundId} failed: ${ended.failureReason}`);
  return (await coordinator.getResult(roundId)).sum;
}

/** Throws unless the release is the true sum within CKKS error (noise-free) or 10σ (with noise). */
function checkResult(spec: RoundSpec, z: number, params: CkksParams, released: Float64Array, truth: Float64Array, what: string): number {
  const error = maxAbsDiff(released, truth);
  const sigma = z * spec.clipNorm;
  const tolerance = sigma > 0 ? 10 * sigma : Math.max(1e-3 * spec.clipNorm, 100 * estimateMaxError(params, spec.clients, spec.clipNorm));
  if (!(error <= tolerance)) throw new Error(`${what}: the released sum is off by ${error} (> ${tolerance}): the round is wrong, its figures are void`);
  return error;
}

export async function runClusterRounds(spec: RoundSpec): Promise<ClusterFigures> {
  const { clients: S, length: L, clipNorm: C } = spec;
  const cluster = await LocalCluster.start({
    privateRedis: { configFile: SHIPPED_REDIS_CONF },
    aggregators: spec.aggregators,
    allowUnsafeNoiseFreeRelease: spec.noiseMultiplier === 0,
  });
  const redisDir = cluster.privateRedis?.dir;
  const redis = createRedis(cluster.redisUrl, { name: 'bench' });
  const queues = new RoundQueues(redis, queuePrefix(cluster.keyPrefix));
  const coordinator = await cluster.client('coordinator', 'bench-coordinator');
  const children: JsonChild[] = [];
  try {
    let z = spec.noiseMultiplier;
    const config = (tag: string): MessageInitShape<typeof RoundConfigSchema> => ({
      vectorLength: L,
      minClients: S,
      maxClients: S,
      deadlineUnixMs: BigInt(Date.now() + 3_600_000),
      clipNorm: C,
      noiseMultiplier: z,
      unsafeDisableNoise: z === 0,
      preset: spec.preset,
      encoding: spec.encoding === 'coefficients' ? Encoding.COEFFICIENTS : Encoding.SLOTS,
      privacyGroup: `bench-${tag}`,
    });

    // ---- 1. Isolated round ------------------------------------------------
    spec.log(`  isolated round: ${S} clients × ${L} values`);
    let isolatedRound: Round | undefined;
    for (let attempt = 0; isolatedRound === undefined; attempt++) {
      try {
        isolatedRound = await coordinator.createRound(config('isolated'));
      } catch (error) {
        if (attempt >= 8 || !isSecaggError(error, Code.FailedPrecondition) || !/flooding margin/.test(error.message)) throw error;
        z *= 2;
        spec.log(`  the keyholder wants more noise (${error.message.split(':')[0]}): noise multiplier ${z}`);
      }
    }
    const roundId = isolatedRound.roundId;
    // Ingest is measured alone: the aggregators are stopped (SIGTERM: they hand their ranges back) until it is done.
    const aggregatorNames = cluster.processNames().filter((name) => name.startsWith('aggregator'));
    for (const name of aggregatorNames) await cluster.kill(name, 'SIGTERM');
    const { round, publicKey } = await coordinator.getRound(roundId);
    if (!round?.ckks) throw new Error('the round has no CKKS parameters');
    const ckks = round.ckks;
    const params = toCkksParams(ckks);
    if (params.encoding !== spec.encoding || params.preset !== spec.preset) {
      throw new Error(`asked for ${spec.preset}/${spec.encoding}, the keyholder chose ${params.preset}/${params.encoding}`);
    }
    const update = makeUpdate(L, 1, spec.updateNorm);
    const clientEncryptValuesPerSec: number[] = [];
    const clientPoolEncryptValuesPerSec: number[] = [];
    const rawEncryptValuesPerSec: number[] = [];
    // The SDK's default pool size: one worker thread per core.
    const pool = new EncryptionPool();
    try {
      for (let t = 0; t < spec.trials; t++) {
        rawEncryptValuesPerSec.push(await measureRawEncryptRate(params, publicKey, spec.encryptSeconds));
        clientEncryptValuesPerSec.push(await measureSdkEncryptRate(params, publicKey, update, C, spec.encryptSeconds));
        clientPoolEncryptValuesPerSec.push(await measureSdkPoolEncryptRate(pool, params, publicKey, update, C, spec.encryptSeconds));
      }
    } finally {
      await pool.close();
    }
    const encrypted = await encryptUpdate(params, publicKey, update, C);

    const credentials: grpc.ChannelCredentials = cluster.channelCredentials();
    const ingest = Array.from({ length: S }, () => ingestClient(cluster.gatewayAddress, credentials));
    const metadata = await Promise.all(
      ingest.map(async (_, i) => {
        const m = new grpc.Metadata();
        m.set('authorization', `Bearer ${await cluster.token('client', `ingest-${i}`)}`);
        return m;
      }),
    );
    let ingestSeconds: number;
    let ingestPayloadBytes = 0;
    try {
      // Connect (TLS handshake) before the clock starts, as the transport limit does.
      await Promise.all(ingest.map((c, i) => c.getRound({ roundId }, { metadata: metadata[i]! })));
      const start = performance.now();
      const outcomes = await Promise.all(
        ingest.map((c, i) =>
          streamUpdate(
            c,
            { roundId, updateId: `ingest-${i}`, vectorLength: L, ciphertextCount: ckks.ciphertextCount, chunks: encrypted.ciphertexts, sha256: encrypted.sha256 },
            metadata[i],
          ),
        ),
      );
      ingestSeconds = secondsSince(start);
      for (const o of outcomes) {
        if (o.response.receipt?.ciphertextCount !== ckks.ciphertextCount) throw new Error('a receipt does not count every ciphertext');
        ingestPayloadBytes += o.payloadBytes;
      }
    } finally {
      for (const c of ingest) c.close();
    }
    const committed = await coordinator.getRoundStatus(roundId);
    if (committed.committedCount !== S) throw new Error(`${committed.committedCount} of ${S} updates committed after every receipt`);
    const foldQueuePaused = committed.foldedCount === 0;

    await Promise.all(aggregatorNames.map((name) => cluster.restart(name)));
    const foldStart = performance.now();
    await pollRound(coordinator, roundId, (r) => r.foldedCount >= S, spec.timeoutMs, 'every fold');
    const foldSeconds = secondsSince(foldStart);
    const releaseStart = performance.now();
    const isolatedSum = await releasedSum(coordinator, roundId, spec.timeoutMs);
    const releaseSeconds = secondsSince(releaseStart);
    const clipped = clipToNorm(update, C).values;
    const isolatedError = checkResult(spec, z, params, isolatedSum, clipped.map((v) => v * S), 'isolated round');

    // ---- 2. End-to-end round ---------------------------------------------
    spec.log(`  end-to-end round: ${S} SDK client processes`);
    const seeds = Array.from({ length: S }, (_, i) => 101 + i);
    for (const seed of seeds) {
      children.push(
        JsonChild.start(`client ${seed}`, benchScript('system/sdk-client-process.js'), {
          BENCH_GATEWAY: cluster.gatewayAddress,
          BENCH_CA_FILE: cluster.certificates!.caFile,
          BENCH_KEYHOLDER_KEY: cluster.keyholderVerificationKeyPem,
          BENCH_TOKEN: await cluster.token('client', `e2e-${seed}`),
          BENCH_LENGTH: String(L),
          BENCH_SEED: String(seed),
          BENCH_NORM: String(spec.updateNorm),
        }),
      );
    }
    await Promise.all(children.map((c) => c.next((m) => m.event === 'ready', spec.timeoutMs)));
    const roundStart = performance.now();
    const e2eRound = await coordinator.createRound(config('e2e'));
    for (const c of children) c.send({ command: 'submit', roundId: e2eRound.roundId });
    const submitted = await Promise.all(children.map((c) => c.next((m) => m.event === 'submitted', spec.timeoutMs)));
    const acknowledgedSeconds = secondsSince(roundStart);
    await pollRound(coordinator, e2eRound.roundId, (r) => r.foldedCount >= S, spec.timeoutMs, 'every fold');
    const foldedSeconds = secondsSince(roundStart);
    const e2eSum = await releasedSum(coordinator, e2eRound.roundId, spec.timeoutMs);
    const roundSeconds = secondsSince(roundStart);
    const e2eError = checkResult(spec, z, params, e2eSum, clippedSumOf(L, seeds, spec.updateNorm, C), 'end-to-end round');

    // ---- Memory, sampled before any process exits ------------------------
    const peaks: Record<string, number> = {};
    for (const name of cluster.processNames()) {
      const pid = cluster.pidOf(name);
      const peak = pid === undefined ? undefined : peakRssBytes(pid);
      if (peak !== undefined) peaks[name] = peak;
    }
    const redisPid = cluster.privateRedis?.process.pid;
    const redisPeak = redisPid === undefined ? undefined : peakRssBytes(redisPid);
    if (redisPeak !== undefined) peaks['redis-server'] = redisPeak;
    const info = await redis.info('all');
    const counter = (name: string): number => {
      const value = Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
      if (!Number.isFinite(value)) throw new Error(`Redis INFO has no ${name}`);
      return value;
    };

    return {
      noiseMultiplier: z,
      ckks: {
        scaleBits: ckks.scaleBits,
        valuesPerCiphertext: ckks.valuesPerCiphertext,
        ciphertextBytes: ckks.ciphertextBytes,
        ciphertextCount: ckks.ciphertextCount,
      },
      clientEncryptValuesPerSec,
      clientPoolEncryptValuesPerSec,
      clientPoolThreads: pool.threads,
      rawEncryptValuesPerSec,
      isolated: { ingestPayloadBytes, ingestSeconds, foldSeconds, foldQueuePaused, releaseSeconds, maxAbsError: isolatedError },
      endToEnd: {
        payloadBytes: submitted.reduce((n, m) => n + Number(m.bytesSent), 0),
        roundSeconds,
        acknowledgedSeconds,
        foldLagSeconds: foldedSeconds - acknowledgedSeconds,
        releaseSeconds: roundSeconds - foldedSeconds,
        maxAbsError: e2eError,
        clientPeakRssBytes: Math.max(...submitted.map((m) => Number(m.peakRssBytes))),
      },
      peakRssBytes: peaks,
      redisUsedMemoryPeakBytes: counter('used_memory_peak'),
      redisNetInputBytes: counter('total_net_input_bytes'),
      redisNetOutputBytes: counter('total_net_output_bytes'),
      redisAofRewrites: counter('aof_rewrites'),
    };
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    coordinator.close();
    await queues.close().catch(() => {});
    redis.disconnect();
    await cluster.stop();
    // LocalCluster stops its private redis-server but leaves its directory (and AOF) behind.
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  }
}
