/**
 * The overload harness: many more concurrent client streams than the gateway
 * admits, against an aggregator slowed on purpose (its test knob), so every
 * bound is reached: stream slots, the waiting queue, the staged-bytes budget
 * and the fold backlog. Measures the peak memory of every process (VmHWM)
 * and of Redis (used_memory_peak) against the bounds that follow from the
 * configured limits (bounds.ts), watches the staged bytes and the unfolded
 * backlog while it runs, counts the clients told to retry, and checks that
 * the round still releases exactly the sum of every update.
 */
import { Redis } from 'ioredis';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { RoundState } from '@secagg/proto';
import { DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES } from '@secagg/protocol';
import { closeRound, HARNESS_COORDINATOR, roundResult, waitForRoundEnd } from './coordinator.js';
import { memoryBounds, type ConfiguredLimits, type MemoryBounds } from './bounds.js';
import { PeakSampler, processMemory, redisMemory, stagedBytes } from './memory-probe.js';
import { Prng } from './prng.js';
import { decodePresence, signatureLayout, signedUpdate, tallyPresence } from './signature.js';
import { runSimulatedClient } from './simulated-client.js';

export interface OverloadOptions {
  clients: number;
  length: number;
  seed: number;
  /** Aggregator test knob: pause inside each fold, ms. */
  foldDelayMs: number;
  aggregators: number;
  /** Gateway limits (GATEWAY_* of the same names). */
  gateway: {
    maxConnections: number;
    maxConcurrentStreams: number;
    maxWaitingStreams: number;
    maxStreamsPerClient: number;
    maxFoldBacklog: number;
    maxStagedBytes: number;
    admissionWaitMs: number;
    overloadRetryAfterMs: number;
    /** The HTTP/2 receive window per stream; the gateway's default when absent. */
    http2ReceiveWindowBytes?: number;
  };
  /** Aggregator limits (AGGREGATOR_* of the same names). */
  aggregator: { maxRangesHeld: number; ciphertextsPerRange: number; readBlockBytes: number };
  /** Give up on clients after this long, ms. */
  timeoutMs?: number;
  logDir?: string;
  log?: (line: string) => void;
}

export const DEFAULT_OVERLOAD: Omit<OverloadOptions, 'seed'> = {
  clients: 200,
  length: 4 * 4_096,
  foldDelayMs: 250,
  aggregators: 1,
  gateway: {
    maxConnections: 256,
    maxConcurrentStreams: 16,
    maxWaitingStreams: 32,
    maxStreamsPerClient: 1,
    maxFoldBacklog: 16,
    maxStagedBytes: 4 * 1024 * 1024,
    admissionWaitMs: 1_000,
    overloadRetryAfterMs: 500,
  },
  aggregator: { maxRangesHeld: 8, ciphertextsPerRange: 64, readBlockBytes: 1024 * 1024 },
};

export interface ProcessPeak {
  name: string;
  idleRssBytes: number;
  peakRssBytes: number;
  /** undefined: not bounded by this harness's limits (e.g. the keyholder, idle during uploads). */
  boundBytes: number | undefined;
}

export interface OverloadReport {
  clients: number;
  acknowledged: number;
  /** Clients answered RESOURCE_EXHAUSTED at least once. */
  clientsToldToRetry: number;
  /** RESOURCE_EXHAUSTED answers in all. */
  retryAnswers: number;
  /** Those answers by reason (message, digits masked). */
  refusals: Record<string, number>;
  /** Other errors by code. */
  otherErrors: Record<string, number>;
  unfinished: string[];
  processes: ProcessPeak[];
  redis: { baselineBytes: number; usedMemoryPeak: number; boundBytes: number; peakRssBytes: number };
  observed: { maxStagedBytes: number; maxUnfoldedUpdates: number };
  bounds: MemoryBounds & { maxStagedBytes: number };
  released: boolean;
  maxAbsError: number | null;
  seconds: number;
  ok: boolean;
  problems: string[];
}

export async function runOverload(options: OverloadOptions): Promise<OverloadReport> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const g = options.gateway;
  const cluster = await LocalCluster.start({
    privateRedis: { configFile: SHIPPED_REDIS_CONF },
    aggregators: options.aggregators,
    allowUnsafeNoiseFreeRelease: true,
    logDir: options.logDir,
    env: {
      'client-gateway': {
        GATEWAY_MAX_CONNECTIONS: String(g.maxConnections),
        GATEWAY_MAX_CONCURRENT_STREAMS: String(g.maxConcurrentStreams),
        GATEWAY_MAX_WAITING_STREAMS: String(g.maxWaitingStreams),
        GATEWAY_MAX_STREAMS_PER_CLIENT: String(g.maxStreamsPerClient),
        GATEWAY_MAX_FOLD_BACKLOG: String(g.maxFoldBacklog),
        GATEWAY_MAX_STAGED_BYTES: String(g.maxStagedBytes),
        GATEWAY_ADMISSION_WAIT_MS: String(g.admissionWaitMs),
        GATEWAY_OVERLOAD_RETRY_AFTER_MS: String(g.overloadRetryAfterMs),
        GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES: String(g.http2ReceiveWindowBytes ?? DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES),
      },
      aggregator: {
        AGGREGATOR_TEST_FOLD_DELAY_MS: String(options.foldDelayMs),
        AGGREGATOR_MAX_RANGES_HELD: String(options.aggregator.maxRangesHeld),
        AGGREGATOR_CIPHERTEXTS_PER_RANGE: String(options.aggregator.ciphertextsPerRange),
        AGGREGATOR_READ_BLOCK_BYTES: String(options.aggregator.readBlockBytes),
      },
    },
  });
  let report: OverloadReport | undefined;
  try {
    report = await overloadRound(cluster, options, log);
    report.seconds = Math.round((performance.now() - started) / 1000);
    return report;
  } finally {
    if (!report?.ok) process.env.SECAGG_KEEP_LOGS = '1';
    await cluster.stop();
  }
}

async function overloadRound(cluster: LocalCluster, options: OverloadOptions, log: (line: string) => void): Promise<OverloadReport> {
  const rng = new Prng(options.seed);
  const dataRng = rng.fork();
  const clientRng = rng.fork();
  const coordinator = await cluster.client('coordinator', HARNESS_COORDINATOR);
  const round = await coordinator.createRound({
    vectorLength: options.length,
    minClients: options.clients,
    maxClients: options.clients,
    deadlineUnixMs: BigInt(Date.now() + 3_600_000),
    clipNorm: 1,
    noiseMultiplier: 0,
    unsafeDisableNoise: true,
  });
  coordinator.close();
  const ckks = round.ckks!;
  const layout = signatureLayout(options.length, ckks.valuesPerCiphertext, options.clients);
  const updates = Array.from({ length: options.clients }, (_, i) => signedUpdate(layout, i, dataRng.fork()));
  const limits: ConfiguredLimits = {
    ...options.gateway,
    http2ReceiveWindowBytes: options.gateway.http2ReceiveWindowBytes ?? DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES,
    ...options.aggregator,
    aggregators: options.aggregators,
    gateways: 1,
  };
  const bounds = memoryBounds(limits, { ciphertextBytes: ckks.ciphertextBytes, ciphertextCount: ckks.ciphertextCount, clients: options.clients });
  log(`round ${round.roundId}: ${options.clients} clients, ${ckks.ciphertextCount} ciphertexts (${bounds.updateBytes} bytes) per update, fold delay ${options.foldDelayMs} ms`);

  const names = cluster.processNames();
  const idle = new Map(names.map((name) => [name, processMemory(cluster.pidOf(name)!)?.rssBytes ?? 0]));
  const baseline = await redisMemory(cluster.redisUrl);

  // Watch what the limits are about, while the load runs.
  const watcher = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  const staged = new PeakSampler(() => stagedBytes(watcher, cluster.keyPrefix), 50).start();
  const observer = await cluster.client('coordinator', 'overload-observer');
  const unfolded = new PeakSampler(async () => {
    const r = await observer.getRoundStatus(round.roundId);
    return r.committedCount - r.foldedCount;
  }, 100).start();

  const giveUpAtMs = Date.now() + (options.timeoutMs ?? 600_000);
  let finished = 0;
  const outcomes = await Promise.all(
    updates.map(async (values, i) => {
      const outcome = await runSimulatedClient({
        cluster,
        roundId: round.roundId,
        subject: `overload-client-${i}`,
        updateId: `overload-${options.seed}-${i}`,
        values,
        // Every refusal comes back to the harness: it counts them, then retries as the SDK would.
        sdkMaxAttempts: 1,
        // One connection per client for all its attempts, as a device would.
        freshChannelPerSubmission: false,
        giveUpAtMs,
        rng: clientRng.fork(),
      });
      finished++;
      if (finished % 25 === 0 || finished === updates.length) log(`${finished}/${updates.length} clients finished`);
      return outcome;
    }),
  );
  const maxStaged = await staged.stop();
  const acknowledged = new Set(outcomes.flatMap((o, i) => (o.receipt ? [i] : [])));
  await closeRound(cluster, round.roundId);
  const ended = await waitForRoundEnd(cluster, round.roundId, 300_000);
  const maxUnfolded = await unfolded.stop();
  observer.close();
  watcher.disconnect();

  const processes: ProcessPeak[] = names.map((name) => {
    const memory = processMemory(cluster.pidOf(name)!);
    const bound =
      name === 'client-gateway' ? bounds.gatewayAboveIdle : name.startsWith('aggregator') ? bounds.aggregatorAboveIdle : undefined;
    const idleRss = idle.get(name) ?? 0;
    return { name, idleRssBytes: idleRss, peakRssBytes: memory?.peakRssBytes ?? NaN, boundBytes: bound === undefined ? undefined : idleRss + bound };
  });
  const redisNow = await redisMemory(cluster.redisUrl);
  const redisPeakRss = processMemory(cluster.privateRedis!.process.pid!)?.peakRssBytes ?? NaN;
  const redisBound = baseline.usedMemory + bounds.redisAboveBaseline;

  const problems: string[] = [];
  // A client without a receipt is acceptable only if the last thing it heard was "retry later".
  const unfinished = outcomes.filter((o) => !o.receipt).map((o) => `${o.subject}: ${o.failure}`);
  const unanswered = unfinished.filter((line) => !/: RESOURCE_EXHAUSTED: /.test(line));
  if (unanswered.length > 0) problems.push(`${unanswered.length} clients neither finished nor were told to retry: ${unanswered.slice(0, 3).join('; ')}`);
  for (const p of processes) {
    if (!cluster.isRunning(p.name)) problems.push(`${p.name} died`);
    if (p.boundBytes !== undefined && !(p.peakRssBytes <= p.boundBytes)) problems.push(`${p.name} peak RSS ${p.peakRssBytes} > bound ${p.boundBytes}`);
  }
  if (!(redisNow.usedMemoryPeak <= redisBound)) problems.push(`Redis used_memory_peak ${redisNow.usedMemoryPeak} > bound ${redisBound}`);
  if (maxStaged > options.gateway.maxStagedBytes) problems.push(`staged bytes reached ${maxStaged} > maxStagedBytes ${options.gateway.maxStagedBytes}`);
  if (maxUnfolded > bounds.unfoldedUpdates) problems.push(`unfolded updates reached ${maxUnfolded} > ${bounds.unfoldedUpdates}`);

  let maxAbsError: number | null = null;
  const released = ended.state === RoundState.RELEASED;
  if (!released) problems.push(`round ended ${RoundState[ended.state]}: ${ended.failureReason}`);
  else {
    const result = await roundResult(cluster, round.roundId);
    const tally = tallyPresence(decodePresence(layout, result.sum), acknowledged);
    if (tally.lost + tally.duplicated + tally.partial + tally.unacknowledgedPresent > 0) problems.push(`not exactly once: ${JSON.stringify(tally)}`);
    maxAbsError = 0;
    const expected = new Float64Array(options.length);
    for (const i of acknowledged) for (let j = 0; j < options.length; j++) expected[j]! += updates[i]![j]!;
    for (let j = 0; j < options.length; j++) maxAbsError = Math.max(maxAbsError, Math.abs(result.sum[j]! - expected[j]!));
    if (!(maxAbsError <= 1e-4)) problems.push(`max |released - expected| = ${maxAbsError}`);
  }

  const refusals: Record<string, number> = {};
  const otherErrors: Record<string, number> = {};
  for (const o of outcomes) {
    for (const [reason, n] of Object.entries(o.refusals)) refusals[reason] = (refusals[reason] ?? 0) + n;
    for (const [code, n] of Object.entries(o.errors)) if (code !== 'RESOURCE_EXHAUSTED') otherErrors[code] = (otherErrors[code] ?? 0) + n;
  }
  return {
    clients: options.clients,
    acknowledged: acknowledged.size,
    clientsToldToRetry: outcomes.filter((o) => o.toldToRetry > 0).length,
    retryAnswers: outcomes.reduce((n, o) => n + o.toldToRetry, 0),
    refusals,
    otherErrors,
    unfinished,
    processes,
    redis: { baselineBytes: baseline.usedMemory, usedMemoryPeak: redisNow.usedMemoryPeak, boundBytes: redisBound, peakRssBytes: redisPeakRss },
    observed: { maxStagedBytes: maxStaged, maxUnfoldedUpdates: maxUnfolded },
    bounds: { ...bounds, maxStagedBytes: options.gateway.maxStagedBytes },
    released,
    maxAbsError,
    seconds: 0,
    ok: problems.length === 0,
    problems,
  };
}
