/**
 * The system figures of one preset × encoding: real rounds on a fresh
 * LocalCluster (real services as child processes, TLS, a private
 * redis-server with the shipped config/redis.conf, so its memory peak and
 * every process's peak RSS are this configuration's alone).
 *
 * 1. Isolated rounds — each stage measured alone, one round per entry of
 *    `foldAggregators` (e.g. one aggregator, then two):
 *    - client encryption (first round only): the SDK path (clip, engine, key,
 *      encryptVector) on one thread, and the SDK's default EncryptionPool,
 *      with this round's key, in trials alternating with trials of its limits
 *      (the engine's encrypt and SEAL's bare encrypt, same key);
 *    - gateway ingest: every aggregator is frozen (SIGSTOP) right after
 *      CreateRound, so none holds a range of the round; S clients (separate connections) each stream
 *      `updatesPerClient` updates one after another, each under its own client
 *      id, all replaying one update encrypted beforehand; acknowledged payload
 *      bytes / wall time from the first frame to the last receipt;
 *    - fold: `n` aggregators are thawed (SIGCONT) — already running, so no
 *      process start-up is timed, and all start folding at once; the fold is
 *      the time from then to the round reporting every update durably folded
 *      into every range
 *      (ranges read from the ciphertext store, added into the in-memory
 *      partial sums — every update but the first is added into a non-empty
 *      sum — and checkpointed); values folded / seconds;
 *    - release: from all folded to the result downloaded.
 *    Before the ingest and before the fold, `interleave` runs one trial of the
 *    limits judged against them, so both sides see the same load.
 * 2. End-to-end round (unless `endToEnd` is false) — what a deployment sees:
 *    S client processes (already running, SEAL loaded, update in memory)
 *    submit with the SDK at once; round time from CreateRound to the result
 *    downloaded.
 * Every round checks the released sum against the true sum of the clipped
 * updates (the cluster allows noise-free releases only because it is the
 * benchmark's own; with noise the check allows 10σ). Redis's INFO
 * total_net_input_bytes / total_net_output_bytes are read before CreateRound
 * and after the result is downloaded: the round's Redis traffic.
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
import { encryptUpdate, measureBareSealEncryptRate, measureRawEncryptRate, measureSdkEncryptRate, measureSdkPoolEncryptRate } from './client-encrypt.js';

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
  /** Extra gateway environment (a non-default configuration the report names). */
  gatewayEnv: Record<string, string>;
  /** Aggregator processes in the cluster. */
  aggregators: number;
  /** One isolated round per entry, folded by that many aggregators (each ≤ `aggregators`). */
  foldAggregators: number[];
  /** Updates each ingest client submits in an isolated round (one after another, each its own client id). */
  updatesPerClient: number;
  /** Client-encryption trials (first isolated round) and the end-to-end round; false for the memory run. */
  endToEnd: boolean;
  /** Minimum duration of each client-encryption trial. */
  encryptSeconds: number;
  /** Trials of the client-encryption figure and its limits. */
  trials: number;
  /** Upper bound on any one wait (ingest, fold, release). */
  timeoutMs: number;
  /** One trial of the limits judged against ingest and fold, run right before each (same load on both sides). */
  interleave: { beforeIngest(): Promise<void>; beforeFold(): Promise<void> };
  log: (line: string) => void;
}

/** Redis INFO counters read before CreateRound and after the result was downloaded. */
export interface RedisTraffic {
  inputBytes: number;
  outputBytes: number;
  /** Of outputBytes, what the coordinator's one result download read (INFO just before and after it). */
  resultDownloadBytes: number;
}

export interface IsolatedRound {
  /** Aggregators that folded it. */
  aggregators: number;
  /** Updates committed and folded (S × updatesPerClient). */
  updates: number;
  ingestPayloadBytes: number;
  ingestSeconds: number;
  /** Uploads refused for a full staging budget (RESOURCE_EXHAUSTED) and retried after the gateway's hint, as the SDK does. */
  ingestRetries: number;
  foldSeconds: number;
  /** False when updates were folded during ingest (the freeze did not hold): the fold figure then understates. */
  foldQueuePaused: boolean;
  releaseSeconds: number;
  maxAbsError: number;
  redis: RedisTraffic;
}

export interface ClusterFigures {
  /** The noise multiplier the rounds ran with (see RoundSpec.noiseMultiplier). */
  noiseMultiplier: number;
  ckks: { scaleBits: number; valuesPerCiphertext: number; ciphertextBytes: number; ciphertextCount: number };
  /** SDK path on the calling thread, one per trial (empty without `endToEnd`). */
  clientEncryptValuesPerSec: number[];
  /** SDK default path (EncryptionPool), one per trial, and its thread count. */
  clientPoolEncryptValuesPerSec: number[];
  clientPoolThreads: number;
  /** The engine's encrypt path (the limit), one per trial, alternating with the above. */
  rawEncryptValuesPerSec: number[];
  /** SEAL's bare encrypt, one per trial, alternating too; or why it was not measured. */
  bareEncryptValuesPerSec: number[] | string;
  isolated: IsolatedRound[];
  endToEnd?: {
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
    redis: RedisTraffic;
  };
  /** VmHWM of every cluster process (services and redis-server), bytes. */
  peakRssBytes: Record<string, number>;
  redisUsedMemoryPeakBytes: number;
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

/** Waits for RELEASED (FAILED is an error) and downloads the sum; `onDownload` brackets the download alone. */
async function releasedSum(coordinator: SecaggClient, roundId: string, timeoutMs: number, onDownload: (phase: 'before' | 'after') => Promise<void>): Promise<Float64Array> {
  const ended = await pollRound(coordinator, roundId, (r) => FINAL_STATES.includes(r.state), timeoutMs, 'the release');
  if (ended.state !== RoundState.RELEASED) throw new Error(`round ${roundId} failed: ${ended.failureReason}`);
  await onDownload('before');
  const { sum } = await coordinator.getResult(roundId);
  await onDownload('after');
  return sum;
}

/** Throws unless the release is the true sum within CKKS error (noise-free) or 10σ (with noise). */
function checkResult(spec: RoundSpec, z: number, params: CkksParams, contributions: number, released: Float64Array, truth: Float64Array, what: string): number {
  const error = maxAbsDiff(released, truth);
  const sigma = z * spec.clipNorm;
  const tolerance = sigma > 0 ? 10 * sigma : Math.max(1e-3 * spec.clipNorm, 100 * estimateMaxError(params, contributions, spec.clipNorm));
  if (!(error <= tolerance)) throw new Error(`${what}: the released sum is off by ${error} (> ${tolerance}): the round is wrong, its figures are void`);
  return error;
}

export async function runClusterRounds(spec: RoundSpec): Promise<ClusterFigures> {
  const { clients: S, length: L, clipNorm: C } = spec;
  const K = spec.updatesPerClient;
  const cluster = await LocalCluster.start({
    privateRedis: { configFile: SHIPPED_REDIS_CONF },
    aggregators: spec.aggregators,
    allowUnsafeNoiseFreeRelease: spec.noiseMultiplier === 0,
    env: { 'client-gateway': spec.gatewayEnv },
  });
  const redisDir = cluster.privateRedis?.dir;
  const redis = createRedis(cluster.redisUrl, { name: 'bench' });
  const queues = new RoundQueues(redis, queuePrefix(cluster.keyPrefix));
  const coordinator = await cluster.client('coordinator', 'bench-coordinator');
  const children: JsonChild[] = [];
  const aggregatorNames = cluster.processNames().filter((name) => name.startsWith('aggregator'));
  // VmHWM dies with a process: read it while every process still runs (the largest per name, should one be replaced).
  const peaks: Record<string, number> = {};
  const samplePeaks = () => {
    const pids: [string, number | undefined][] = cluster.processNames().map((name) => [name, cluster.isRunning(name) ? cluster.pidOf(name) : undefined]);
    pids.push(['redis-server', cluster.privateRedis?.process.pid]);
    for (const [name, pid] of pids) {
      const peak = pid === undefined ? undefined : peakRssBytes(pid);
      if (peak !== undefined) peaks[name] = Math.max(peaks[name] ?? 0, peak);
    }
  };
  const info = async (section: string) => {
    const text = await redis.info(section);
    return (name: string): number => {
      const value = Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1]);
      if (!Number.isFinite(value)) throw new Error(`Redis INFO has no ${name}`);
      return value;
    };
  };
  const traffic = async (): Promise<RedisTraffic> => {
    const counter = await info('stats');
    return { inputBytes: counter('total_net_input_bytes'), outputBytes: counter('total_net_output_bytes'), resultDownloadBytes: 0 };
  };
  const trafficSince = async (before: RedisTraffic, download: number): Promise<RedisTraffic> => {
    const after = await traffic();
    return { inputBytes: after.inputBytes - before.inputBytes, outputBytes: after.outputBytes - before.outputBytes, resultDownloadBytes: download };
  };
  /** Measures the output bytes of a result download into `into.bytes`. */
  const downloadMeter = () => {
    const meter = { bytes: 0, start: 0 };
    const onDownload = async (phase: 'before' | 'after') => {
      const out = (await traffic()).outputBytes;
      if (phase === 'before') meter.start = out;
      else meter.bytes = out - meter.start;
    };
    return { meter, onDownload };
  };
  try {
    let z = spec.noiseMultiplier;
    const config = (tag: string, contributions: number): MessageInitShape<typeof RoundConfigSchema> => ({
      vectorLength: L,
      minClients: contributions,
      maxClients: contributions,
      deadlineUnixMs: BigInt(Date.now() + 3_600_000),
      clipNorm: C,
      noiseMultiplier: z,
      unsafeDisableNoise: z === 0,
      preset: spec.preset,
      encoding: spec.encoding === 'coefficients' ? Encoding.COEFFICIENTS : Encoding.SLOTS,
      privacyGroup: `bench-${tag}`,
    });
    const createRound = async (tag: string, contributions: number): Promise<Round> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await coordinator.createRound(config(tag, contributions));
        } catch (error) {
          if (attempt >= 8 || !isSecaggError(error, Code.FailedPrecondition) || !/flooding margin/.test(error.message)) throw error;
          z *= 2;
          spec.log(`  the keyholder wants more noise (${error.message.split(':')[0]}): noise multiplier ${z}`);
        }
      }
    };

    // ---- 1. Isolated rounds -----------------------------------------------
    const update = makeUpdate(L, 1, spec.updateNorm);
    const clipped = clipToNorm(update, C).values;
    const clientEncryptValuesPerSec: number[] = [];
    const clientPoolEncryptValuesPerSec: number[] = [];
    const rawEncryptValuesPerSec: number[] = [];
    let bareEncryptValuesPerSec: number[] | string = [];
    let clientPoolThreads = 0;
    let encrypted: Awaited<ReturnType<typeof encryptUpdate>> | undefined;
    let ckks: Round['ckks'];
    let params: CkksParams | undefined;
    const isolated: IsolatedRound[] = [];
    const credentials: grpc.ChannelCredentials = cluster.channelCredentials();
    for (const [r, n] of spec.foldAggregators.entries()) {
      const updates = S * K;
      spec.log(`  isolated round ${r + 1}: ${S} clients × ${K} update(s) × ${L} values, folded by ${n} aggregator(s)`);
      const redisBefore = await traffic();
      const round = await createRound(`isolated-${r}`, updates);
      const roundId = round.roundId;
      // Frozen, not stopped: a restart would put process start-up into the fold, or let the first one up fold alone.
      for (const name of aggregatorNames) cluster.signal(name, 'SIGSTOP');
      const { round: described, publicKey } = await coordinator.getRound(roundId);
      if (!described?.ckks) throw new Error('the round has no CKKS parameters');
      ckks = described.ckks;
      const roundParams = toCkksParams(ckks);
      if (roundParams.encoding !== spec.encoding || roundParams.preset !== spec.preset) {
        throw new Error(`asked for ${spec.preset}/${spec.encoding}, the keyholder chose ${roundParams.preset}/${roundParams.encoding}`);
      }
      if (params === undefined && spec.endToEnd) {
        // The SDK's default pool size: one worker thread per core.
        const pool = new EncryptionPool();
        clientPoolThreads = pool.threads;
        try {
          for (let t = 0; t < spec.trials; t++) {
            rawEncryptValuesPerSec.push(await measureRawEncryptRate(roundParams, publicKey, spec.encryptSeconds));
            const bare = await measureBareSealEncryptRate(roundParams, publicKey, spec.encryptSeconds);
            if (typeof bare === 'string') bareEncryptValuesPerSec = bare;
            else if (typeof bareEncryptValuesPerSec !== 'string') bareEncryptValuesPerSec.push(bare);
            clientEncryptValuesPerSec.push(await measureSdkEncryptRate(roundParams, publicKey, update, C, spec.encryptSeconds));
            clientPoolEncryptValuesPerSec.push(await measureSdkPoolEncryptRate(pool, roundParams, publicKey, update, C, spec.encryptSeconds));
          }
        } finally {
          await pool.close();
        }
      }
      params = roundParams;
      // Each round has its own key: the replayed update is encrypted for it.
      encrypted = await encryptUpdate(roundParams, publicKey, update, C);

      const ingest = Array.from({ length: S }, () => ingestClient(cluster.gatewayAddress, credentials));
      const metadata = await Promise.all(
        Array.from({ length: S }, (_, i) =>
          Promise.all(
            Array.from({ length: K }, async (_, j) => {
              const m = new grpc.Metadata();
              m.set('authorization', `Bearer ${await cluster.token('client', `ingest-${r}-${i}-${j}`)}`);
              return m;
            }),
          ),
        ),
      );
      let ingestSeconds: number;
      let ingestPayloadBytes = 0;
      let ingestRetries = 0;
      try {
        // Connect (TLS handshake) before the clock starts, as the transport limit does.
        await Promise.all(ingest.map((c, i) => c.getRound({ roundId }, { metadata: metadata[i]![0]! })));
        await spec.interleave.beforeIngest();
        const start = performance.now();
        const outcomes = await Promise.all(
          ingest.map(async (c, i) => {
            const mine = [];
            for (let j = 0; j < K; j++) {
              const frames = { roundId, updateId: `ingest-${i}-${j}`, vectorLength: L, ciphertextCount: ckks!.ciphertextCount, chunks: encrypted!.ciphertexts, sha256: encrypted!.sha256 };
              // As the SDK does: a refusal for a full staging budget (GATEWAY_MAX_STAGED_BYTES) is retried after its hint.
              for (;;) {
                try {
                  mine.push(await streamUpdate(c, frames, metadata[i]![j]));
                  break;
                } catch (error) {
                  if (!isSecaggError(error, Code.ResourceExhausted)) throw error;
                  ingestRetries++;
                  await sleep(error.retryAfterMs ?? 1_000);
                }
              }
            }
            return mine;
          }),
        );
        ingestSeconds = secondsSince(start);
        for (const o of outcomes.flat()) {
          if (o.response.receipt?.ciphertextCount !== ckks.ciphertextCount) throw new Error('a receipt does not count every ciphertext');
          ingestPayloadBytes += o.payloadBytes;
        }
      } finally {
        for (const c of ingest) c.close();
      }
      const committed = await coordinator.getRoundStatus(roundId);
      if (committed.committedCount !== updates) throw new Error(`${committed.committedCount} of ${updates} updates committed after every receipt`);
      const foldQueuePaused = committed.foldedCount === 0;

      await spec.interleave.beforeFold();
      const foldStart = performance.now();
      for (const name of aggregatorNames.slice(0, n)) cluster.signal(name, 'SIGCONT');
      await pollRound(coordinator, roundId, (x) => x.foldedCount >= updates, spec.timeoutMs, 'every fold');
      const foldSeconds = secondsSince(foldStart);
      const releaseStart = performance.now();
      const download = downloadMeter();
      const sum = await releasedSum(coordinator, roundId, spec.timeoutMs, download.onDownload);
      const releaseSeconds = secondsSince(releaseStart);
      const maxAbsError = checkResult(spec, z, roundParams, updates, sum, clipped.map((v) => v * updates), `isolated round ${r + 1}`);
      const redisTraffic = await trafficSince(redisBefore, download.meter.bytes);
      for (const name of aggregatorNames.slice(n)) cluster.signal(name, 'SIGCONT');
      isolated.push({ aggregators: n, updates, ingestPayloadBytes, ingestSeconds, ingestRetries, foldSeconds, foldQueuePaused, releaseSeconds, maxAbsError, redis: redisTraffic });
    }
    if (!ckks || !params) throw new Error('no isolated round was run');
    encrypted = undefined; // the replayed update is not needed any more (memory)

    // ---- 2. End-to-end round ---------------------------------------------
    let endToEnd: ClusterFigures['endToEnd'];
    if (spec.endToEnd) {
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
      const redisBefore = await traffic();
      const roundStart = performance.now();
      const e2eRound = await createRound('e2e', S);
      for (const c of children) c.send({ command: 'submit', roundId: e2eRound.roundId });
      const submitted = await Promise.all(children.map((c) => c.next((m) => m.event === 'submitted', spec.timeoutMs)));
      const acknowledgedSeconds = secondsSince(roundStart);
      await pollRound(coordinator, e2eRound.roundId, (r) => r.foldedCount >= S, spec.timeoutMs, 'every fold');
      const foldedSeconds = secondsSince(roundStart);
      const download = downloadMeter();
      const e2eSum = await releasedSum(coordinator, e2eRound.roundId, spec.timeoutMs, download.onDownload);
      const roundSeconds = secondsSince(roundStart);
      const redisTraffic = await trafficSince(redisBefore, download.meter.bytes);
      const e2eError = checkResult(spec, z, params, S, e2eSum, clippedSumOf(L, seeds, spec.updateNorm, C), 'end-to-end round');
      endToEnd = {
        payloadBytes: submitted.reduce((n, m) => n + Number(m.bytesSent), 0),
        roundSeconds,
        acknowledgedSeconds,
        foldLagSeconds: foldedSeconds - acknowledgedSeconds,
        releaseSeconds: roundSeconds - foldedSeconds,
        maxAbsError: e2eError,
        clientPeakRssBytes: Math.max(...submitted.map((m) => Number(m.peakRssBytes))),
        redis: redisTraffic,
      };
    }

    // ---- Memory, sampled before any process exits ------------------------
    samplePeaks();
    const memory = await info('all');
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
      clientPoolThreads,
      rawEncryptValuesPerSec,
      bareEncryptValuesPerSec,
      isolated,
      endToEnd,
      peakRssBytes: peaks,
      redisUsedMemoryPeakBytes: memory('used_memory_peak'),
      redisAofRewrites: memory('aof_rewrites'),
    };
  } finally {
    // A frozen process would not see the SIGTERM that stops the cluster.
    for (const name of aggregatorNames) cluster.signal(name, 'SIGCONT');
    await Promise.allSettled(children.map((c) => c.stop()));
    coordinator.close();
    await queues.close().catch(() => {});
    redis.disconnect();
    await cluster.stop();
    // LocalCluster stops its private redis-server but leaves its directory (and AOF) behind.
    if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  }
}
