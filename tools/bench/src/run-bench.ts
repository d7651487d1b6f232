/**
 * One benchmark run: limits and system figures, then every figure as a ratio
 * to its limit and the issue's goals judged on them. Everything is measured
 * in the same run on the same machine, because absolute figures drift on
 * shared machines (REFERENCE.md); each limit is measured right before the
 * figures judged against it (see runBench).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { chooseScaleBits, ciphertextByteLength, type CkksParams, type Encoding, type PresetName } from '@secagg/ckks';
import { createDevCertificates, REPO_ROOT, SHIPPED_REDIS_CONF, type CertificateFiles } from '@secagg/local-cluster';
import { measureGrpcLimit, SINK_IDENTITY } from './limits/grpc-limit.js';
import { plainFloat32SumRate } from './limits/plain-sum.js';
import { measureRedisSetMBps, REDIS_LIMIT_CONCURRENCY } from './limits/redis-limit.js';
import { measureSealLimits, type SealLimits } from './limits/seal-limits.js';
import { machine, versions } from './machine.js';
import type { BenchOptions } from './options.js';
import { bestOf, RATIO_SEPARATOR, ratiosFor, REPORT_SCHEMA, judgedValue, type BenchReport, type ConfigurationReport, type GoalReport, type Measure } from './report.js';
import { runClusterRounds, type ClusterFigures } from './system/cluster-rounds.js';

/** The HTTP/2 receive window of the "raised" transport limit (REFERENCE.md measured 4 MiB). */
export const RAISED_WINDOW_BYTES = 4 * 1024 * 1024;
/** The issue's memory goal: every process under 512 MiB for a 10,000,000-value update. */
export const RSS_GOAL_BYTES = 512 * 1024 * 1024;
export const RSS_GOAL_LENGTH = 10_000_000;

interface ConfigurationSpec {
  role: 'system' | 'baseline';
  preset: PresetName;
  encoding: Encoding;
}

const configId = (c: { preset: string; encoding: string }) => `${c.preset}/${c.encoding}`;

/** Limit keys. */
export const LIMIT = {
  plainSum: 'plain.float32Sum',
  encrypt: (id: string) => `seal.encrypt.${id}`,
  loadAdd: (id: string) => `seal.loadAdd.${id}`,
  jsAdd: (id: string) => `js.addCiphertextInto.${id}`,
  validate: (id: string) => `js.validateCiphertext.${id}`,
  grpc: (security: 'tls' | 'plaintext', window: 'default' | 'raised', bytes: number) => `grpc.${security}.${window}Window.${bytes}B`,
  redis: (persistence: 'shipped' | 'noPersistence', bytes: number, inFlight: number) => `redis.set.${persistence}.${bytes}B.${inFlight}inFlight`,
};

const measure = (value: number, unit: string, description: string): Measure => ({ value, unit, description });
/** A measure taken in trials: the best one, with every trial kept (see Measure.samples). */
const fromTrials = (samples: number[], unit: string, description: string): Measure => ({ value: bestOf(samples), unit, description, samples });

export async function runBench(options: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const started = performance.now();
  const S = options.clients;
  const L = options.length;
  const report: BenchReport = {
    schema: REPORT_SCHEMA,
    timestamp: new Date().toISOString(),
    mode: options.mode,
    wallSeconds: 0,
    parameters: {
      clients: S,
      length: L,
      preset: options.preset,
      encodings: options.encodings,
      baselinePreset: options.baseline ? options.baselinePreset : 'none',
      aggregators: options.aggregators,
      clipNorm: options.clipNorm,
      updateNormBeforeClipping: 1.5 * options.clipNorm,
      noiseMultiplierRequested: options.noiseMultiplier,
      limitSeconds: options.limitSeconds,
      limitTrials: options.trials,
      grpcStreams: S,
      grpcRaisedWindowBytes: RAISED_WINDOW_BYTES,
      redisConcurrency: REDIS_LIMIT_CONCURRENCY,
      redisConfig: relative(REPO_ROOT, SHIPPED_REDIS_CONF),
      transport: 'TLS (development certificates), loopback',
    },
    versions: versions(),
    machine: machine(),
    limits: {},
    configurations: [],
    ratios: [],
    goals: [],
    notes: [],
  };
  const specs: ConfigurationSpec[] = options.encodings.map((encoding) => ({ role: 'system', preset: options.preset, encoding }));
  if (options.baseline && !specs.some((s) => s.preset === options.baselinePreset && s.encoding === 'slots')) {
    specs.push({ role: 'baseline', preset: options.baselinePreset, encoding: 'slots' });
  }

  // Limits next to the figures judged against them: a shared machine's load
  // drifts over a run, so each group of configurations (same ciphertext
  // size) is measured right after its transport and Redis limits, and each
  // configuration right after its SEAL limits.
  log('limits: plain Float32Array sum');
  const plainSum = Array.from({ length: options.trials }, () => plainFloat32SumRate(options.limitSeconds));
  report.limits[LIMIT.plainSum] = fromTrials(plainSum, 'values/s', 'acc[i] += x[i] over two 64 Ki-value Float32Arrays, one thread');

  const certDir = mkdtempSync(join(tmpdir(), 'secagg-bench-tls-'));
  const timeoutMs = 120_000 + (S * L * 100) / 5_000; // 100 B/value at 5 MB/s, at least 2 minutes
  try {
    const certificates: CertificateFiles = createDevCertificates(certDir, [SINK_IDENTITY]);
    const sizeOf = (s: ConfigurationSpec) => ciphertextByteLength({ preset: s.preset, encoding: s.encoding, scaleBits: 20 });
    const systemSize = ciphertextByteLength({ preset: options.preset, encoding: 'slots', scaleBits: 20 });
    for (const bytes of [...new Set(specs.map(sizeOf))]) {
      await measureTransportLimits(report, options, bytes, bytes === systemSize, certificates, log);
      for (const spec of specs.filter((s) => sizeOf(s) === bytes)) {
        const configuration = await measureConfiguration(report, options, spec, timeoutMs, log);
        report.configurations.push(configuration);
      }
    }
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
  report.configurations.sort((a, b) => specs.findIndex((s) => configId(s) === a.id) - specs.findIndex((s) => configId(s) === b.id));

  report.ratios = ratiosFor(report, ratioPairs(report.configurations, options));
  report.goals = goals(report, options);
  report.machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  report.wallSeconds = (performance.now() - started) / 1_000;
  return report;
}

function systemFigures(f: ClusterFigures, options: BenchOptions): Record<string, Measure> {
  const S = options.clients;
  const L = options.length;
  const values = S * L;
  const z = f.noiseMultiplier;
  const figures: Record<string, Measure> = {
    bytesPerValue: measure(
      (f.ckks.ciphertextBytes * f.ckks.ciphertextCount) / L,
      'B/value',
      `ciphertext bytes of one update on the wire ÷ its ${L} values (${f.ckks.ciphertextCount} × ${f.ckks.ciphertextBytes} B, zero padding of the last ciphertext included)`,
    ),
    bytesPerValueFullCiphertext: measure(f.ckks.ciphertextBytes / f.ckks.valuesPerCiphertext, 'B/value', 'one ciphertext\'s bytes ÷ the values it carries'),
    clientEncryptValuesPerSec: fromTrials(
      f.clientEncryptValuesPerSec,
      'values/s',
      `the SDK's path (clip, engine, public key, encryptVector) over a ${L}-value update on one thread, with the round's key; trials alternate with the encrypt limit's`,
    ),
    clientEncryptPoolValuesPerSec: fromTrials(
      f.clientPoolEncryptValuesPerSec,
      'values/s',
      `the SDK's default path (clip, EncryptionPool of ${f.clientPoolThreads} worker threads, chunks in order) over a ${L}-value update; trials alternate with the encrypt limit's`,
    ),
    clientEncryptPoolValuesPerSecPerCore: fromTrials(
      f.clientPoolEncryptValuesPerSec.map((v) => v / f.clientPoolThreads),
      'values/s',
      `the SDK's default path ÷ its ${f.clientPoolThreads} worker threads (one per core): client encryption per core`,
    ),
    ingestMBps: measure(
      f.isolated.ingestPayloadBytes / f.isolated.ingestSeconds / 1e6,
      'MB/s',
      `gateway: ${S} clients (separate TLS connections) stream an update encrypted beforehand; ciphertext bytes acknowledged (receipt = committed in Redis, fold queued) ÷ wall time; folds paused`,
    ),
    ingestValuesPerSec: measure(values / f.isolated.ingestSeconds, 'values/s', 'the same ingest in values acknowledged per second'),
    foldValuesPerSec: measure(values / f.isolated.foldSeconds, 'values/s', `aggregators (${options.aggregators} processes): ${S} committed updates folded ÷ time from resuming the fold queue to every update folded`),
    foldMBps: measure(
      (S * f.ckks.ciphertextBytes * f.ckks.ciphertextCount) / f.isolated.foldSeconds / 1e6,
      'MB/s',
      'the same fold in update ciphertext bytes folded per second (each fold reads the update and a partial sum from Redis and writes the partial sum back)',
    ),
    releaseSeconds: measure(f.isolated.releaseSeconds, 's', 'every update folded → finalize, keyholder decrypt, range check, noise, result downloaded by the coordinator'),
    e2eRoundSeconds: measure(f.endToEnd.roundSeconds, 's', `CreateRound → ${S} SDK client processes (update in memory; the SDK's worker pool starts on submission) clip, encrypt and submit concurrently → fold → release → result downloaded`),
    e2eIngestMBps: measure(f.endToEnd.payloadBytes / f.endToEnd.acknowledgedSeconds / 1e6, 'MB/s', 'end-to-end round: ciphertext bytes acknowledged ÷ time from CreateRound to the last receipt (clients encrypt while streaming, on the same machine)'),
    e2eValuesPerSec: measure(values / f.endToEnd.roundSeconds, 'values/s', 'end-to-end round: S·L ÷ round time'),
    e2eFoldLagSeconds: measure(f.endToEnd.foldLagSeconds, 's', 'end-to-end round: last receipt → every update folded'),
    e2eReleaseSeconds: measure(f.endToEnd.releaseSeconds, 's', 'end-to-end round: every update folded → result downloaded'),
    releasedMaxAbsDeviation: measure(
      f.endToEnd.maxAbsError,
      'value units',
      z > 0
        ? `end-to-end round: max |released − true sum of clipped updates| with noise σ = z·C = ${z * options.clipNorm} (checked ≤ 10σ)`
        : 'end-to-end round, noise-free test release: max |released − true sum of clipped updates| (the CKKS error)',
    ),
    redisUsedMemoryPeakBytes: measure(f.redisUsedMemoryPeakBytes, 'B', "INFO memory used_memory_peak of the cluster's private redis-server over both rounds"),
    redisInputBytesPerValue: measure(
      f.redisNetInputBytes / (2 * values),
      'B/value',
      'Redis INFO total_net_input_bytes over both rounds ÷ the values submitted: bytes every value costs Redis to take in (staging, partial sums, results)',
    ),
    redisOutputBytesPerValue: measure(f.redisNetOutputBytes / (2 * values), 'B/value', 'Redis INFO total_net_output_bytes over both rounds ÷ the values submitted'),
    redisAofRewrites: measure(f.redisAofRewrites, 'count', 'AOF rewrites Redis ran during both rounds (each forks and rewrites the whole data set)'),
  };
  let processMax = 0;
  for (const [name, bytes] of Object.entries(f.peakRssBytes)) {
    figures[`peakRss.${name}`] = measure(bytes, 'B', `VmHWM of ${name} over both rounds (read from /proc before it exited)`);
    if (name !== 'redis-server') processMax = Math.max(processMax, bytes);
  }
  figures['peakRss.client'] = measure(f.endToEnd.clientPeakRssBytes, 'B', 'VmHWM of the largest SDK client process (one update each)');
  processMax = Math.max(processMax, f.endToEnd.clientPeakRssBytes);
  figures.peakRssMax = measure(processMax, 'B', 'largest VmHWM of client, gateway, aggregators and keyholder (redis-server excluded)');
  return figures;
}

function ratioPairs(configurations: ConfigurationReport[], options: BenchOptions): { figure: string; limit: string }[] {
  const inFlight = options.clients * GATEWAY_INFLIGHT_PER_STREAM;
  const pairs: { figure: string; limit: string }[] = [];
  for (const c of configurations) {
    if (!c.available) continue;
    const bytes = c.ckks!.ciphertextBytes;
    const f = (key: string) => `${c.id}/${key}`;
    pairs.push(
      { figure: f('clientEncryptValuesPerSec'), limit: LIMIT.encrypt(c.id) },
      { figure: f('clientEncryptPoolValuesPerSecPerCore'), limit: LIMIT.encrypt(c.id) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('tls', 'default', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('tls', 'raised', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('plaintext', 'default', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('plaintext', 'raised', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.redis('shipped', bytes, REDIS_LIMIT_CONCURRENCY) },
      { figure: f('ingestMBps'), limit: LIMIT.redis('shipped', bytes, inFlight) },
      { figure: f('ingestMBps'), limit: LIMIT.validate(c.id) },
      { figure: f('e2eIngestMBps'), limit: LIMIT.grpc('tls', 'default', bytes) },
      { figure: f('foldValuesPerSec'), limit: LIMIT.loadAdd(c.id) },
      { figure: f('foldValuesPerSec'), limit: LIMIT.jsAdd(c.id) },
      { figure: f('foldValuesPerSec'), limit: LIMIT.plainSum },
      { figure: f('foldMBps'), limit: LIMIT.redis('shipped', bytes, REDIS_LIMIT_CONCURRENCY) },
    );
  }
  return pairs;
}

function goals(report: BenchReport, options: BenchOptions): GoalReport[] {
  const result: GoalReport[] = [];
  const judge = (goal: Omit<GoalReport, 'value' | 'met'>, unavailable: string): void => {
    const value = judgedValue(report, goal.judgedOn);
    if (value === undefined) {
      result.push({ ...goal, note: `${unavailable}. ${goal.note}` });
      return;
    }
    result.push({ ...goal, value, met: goal.comparison === '<=' ? value <= goal.target : value >= goal.target });
  };
  const ratio = (figure: string, limit: string) => `${figure}${RATIO_SEPARATOR}${limit}`;
  const coefficients = `${options.preset}/coefficients`;
  judge(
    {
      id: 'bytes-per-value',
      description: 'bytes per value on the wire ≤ 16.1 with coefficient encoding (128-bit security)',
      comparison: '<=',
      target: 16.1,
      judgedOn: `${coefficients}/bytesPerValue`,
      note: 'a fresh ciphertext is 113 + 16·N bytes (compression none) for N values',
    },
    `${coefficients} was not measured`,
  );
  for (const c of report.configurations) {
    if (c.role !== 'system') continue;
    const bytes = c.ckks?.ciphertextBytes ?? ciphertextByteLength({ preset: c.preset as PresetName, encoding: 'slots', scaleBits: 20 });
    const missing = c.available ? 'a figure or limit was not measured' : `${c.id} is unavailable`;
    judge(
      {
        id: `ingest/${c.id}`,
        description: 'gateway acknowledged ingest ≥ 50% of the grpc-js loopback limit (same message size, TLS like the cluster, grpc-js default window)',
        comparison: '>=',
        target: 0.5,
        judgedOn: ratio(`${c.id}/ingestMBps`, LIMIT.grpc('tls', 'default', bytes)),
        note: 'see the ratios to the raised-window, plaintext and Redis (appendfsync always) limits for what bounds it',
      },
      missing,
    );
    judge(
      {
        id: `client-encryption/${c.id}`,
        description: "client encryption (the SDK's default worker-thread path) ≥ 80% of raw node-seal encrypt, per core",
        comparison: '>=',
        target: 0.8,
        judgedOn: ratio(`${c.id}/clientEncryptPoolValuesPerSecPerCore`, LIMIT.encrypt(c.id)),
        note: 'the limit is one thread; see clientEncryptValuesPerSec for the SDK path on the calling thread',
      },
      missing,
    );
    judge(
      {
        id: `fold/${c.id}`,
        description: 'fold ≥ 50% of raw node-seal load+add',
        comparison: '>=',
        target: 0.5,
        judgedOn: ratio(`${c.id}/foldValuesPerSec`, LIMIT.loadAdd(c.id)),
        note: `fold by ${options.aggregators} aggregator processes sharing the machine with Redis; the limit is one thread`,
      },
      missing,
    );
    const memoryGoal: Omit<GoalReport, 'value' | 'met'> = {
      id: `memory/${c.id}`,
      description: `a ${RSS_GOAL_LENGTH.toLocaleString('en')}-value update end to end with every process (client, gateway, aggregators, keyholder) ≤ 512 MiB RSS`,
      comparison: '<=',
      target: RSS_GOAL_BYTES,
      judgedOn: `${c.id}/peakRssMax`,
      note: `measured with ${options.length.toLocaleString('en')}-value updates`,
    };
    if (options.length >= RSS_GOAL_LENGTH) judge(memoryGoal, missing);
    else {
      const peak = c.figures.peakRssMax?.value;
      result.push({
        ...memoryGoal,
        note: `updates of ${options.length.toLocaleString('en')} values (< ${RSS_GOAL_LENGTH.toLocaleString('en')}); largest process peak ${peak === undefined ? 'n/a' : `${(peak / 2 ** 20).toFixed(0)} MiB`}; run with --length ${RSS_GOAL_LENGTH}`,
      });
    }
  }
  return result;
}

/** The gateway's default pipelining depth per stream (GATEWAY_MAX_INFLIGHT_CHUNKS_PER_STREAM). */
const GATEWAY_INFLIGHT_PER_STREAM = 8;

/** Redis and grpc-js limits for one message size. */
async function measureTransportLimits(
  report: BenchReport,
  options: BenchOptions,
  bytes: number,
  allVariants: boolean,
  certificates: CertificateFiles,
  log: (line: string) => void,
): Promise<void> {
  const S = options.clients;
  const redisVariants: ['shipped' | 'noPersistence', number][] = [
    ['shipped', REDIS_LIMIT_CONCURRENCY],
    ['shipped', S * GATEWAY_INFLIGHT_PER_STREAM],
    ['noPersistence', REDIS_LIMIT_CONCURRENCY],
  ];
  for (const [persistence, concurrency] of redisVariants) {
    const key = LIMIT.redis(persistence, bytes, concurrency);
    if (report.limits[key]) continue;
    log(`limits: Redis SET ${bytes} B, ${persistence}, ${concurrency} in flight`);
    const mbps = await measureRedisSetMBps({
      valueBytes: bytes,
      seconds: options.limitSeconds,
      trials: options.trials,
      persistence: persistence === 'shipped' ? 'shipped' : 'none',
      concurrency,
    });
    report.limits[key] = fromTrials(
      mbps,
      'MB/s',
      `ioredis SET of ${bytes}-byte Buffers, ${concurrency} in flight on one connection, private redis-server ${persistence === 'shipped' ? 'with config/redis.conf (AOF, appendfsync always)' : 'without persistence'}`,
    );
  }
  const variants: ['tls' | 'plaintext', 'default' | 'raised'][] = allVariants
    ? [['tls', 'default'], ['tls', 'raised'], ['plaintext', 'default'], ['plaintext', 'raised']]
    : [['tls', 'default'], ['tls', 'raised']];
  for (const [security, window] of variants) {
    log(`limits: grpc-js client streaming ${bytes} B messages, ${security}, ${window} window, ${S} streams`);
    const limit = await measureGrpcLimit({
      messageBytes: bytes,
      streams: S,
      seconds: options.limitSeconds,
      tls: security === 'tls' ? certificates : undefined,
      windowBytes: window === 'raised' ? RAISED_WINDOW_BYTES : 0,
      trials: options.trials,
    });
    if (window === 'raised' && !limit.windowApplied) {
      report.notes.push(`raised HTTP/2 window not measured: ${limit.windowHow}`);
      continue;
    }
    report.limits[LIMIT.grpc(security, window, bytes)] = fromTrials(
      limit.mbps,
      'MB/s',
      `grpc-js client streaming to a sink process (SubmitUpdate frames, protobuf-es, no work), ${S} concurrent streams on separate connections, ${bytes}-byte ciphertexts, ${security === 'tls' ? 'TLS' : 'plaintext'}, ${limit.windowHow}; payload bytes acknowledged per second`,
    );
  }
}

/** SEAL limits of one configuration, then its rounds on a cluster; unavailable if @secagg/ckks cannot encrypt it. */
async function measureConfiguration(
  report: BenchReport,
  options: BenchOptions,
  spec: ConfigurationSpec,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<ConfigurationReport> {
  const S = options.clients;
  const id = configId(spec);
  const base = { id, role: spec.role, preset: spec.preset, encoding: spec.encoding };
  log(`limits: node-seal for ${id}`);
  let seal: SealLimits;
  try {
    const params: CkksParams = { preset: spec.preset, encoding: spec.encoding, scaleBits: chooseScaleBits(spec.preset, spec.encoding, S, options.clipNorm) };
    seal = await measureSealLimits(params, options.limitSeconds, options.trials);
  } catch (error) {
    const reason = `@secagg/ckks cannot encrypt ${id}: ${(error as Error).message}`;
    log(`  unavailable: ${reason}`);
    return { ...base, available: false, unavailableReason: reason, figures: {} };
  }
  if (seal.sealLoadAddValuesPerSec !== undefined) {
    report.limits[LIMIT.loadAdd(id)] = fromTrials(seal.sealLoadAddValuesPerSec, 'values/s', "SEAL's own Ciphertext load + Evaluator.addInplace of serialized ciphertexts, one thread");
  } else {
    report.notes.push(`SEAL load+add limit of ${id} not measured: ${seal.sealLoadAddUnavailable}`);
  }
  report.limits[LIMIT.jsAdd(id)] = fromTrials(seal.addCiphertextIntoValuesPerSec, 'values/s', "@secagg/ckks addCiphertextInto (the aggregator's SEAL-free add on bytes), one thread");
  report.limits[LIMIT.validate(id)] = fromTrials(seal.validateMBps, 'MB/s', "validateCiphertext (the gateway's check of every chunk), one thread");

  log(`system: ${id} (${spec.role}) on a local cluster`);
  const loadBefore = loadavg()[0]!;
  const figures = await runClusterRounds({
    preset: spec.preset,
    encoding: spec.encoding,
    clients: S,
    length: options.length,
    clipNorm: options.clipNorm,
    updateNorm: 1.5 * options.clipNorm,
    noiseMultiplier: options.noiseMultiplier,
    aggregators: options.aggregators,
    encryptSeconds: options.limitSeconds,
    trials: options.trials,
    timeoutMs,
    log,
  });
  report.limits[LIMIT.encrypt(id)] = fromTrials(
    figures.rawEncryptValuesPerSec,
    'values/s',
    `CkksEngine encrypt of one ciphertext's ${figures.ckks.valuesPerCiphertext} values (range check, encode, SEAL encrypt, save) in a tight loop, one thread, the round's key and scale 2^${figures.ckks.scaleBits}; trials alternate with the client figure's`,
  );
  if (figures.noiseMultiplier !== options.noiseMultiplier) {
    report.notes.push(`${id}: noise multiplier raised from ${options.noiseMultiplier} to ${figures.noiseMultiplier}: the keyholder refuses a smaller noise-flooding margin for ${S} clients (noise costs the same time at any σ)`);
  }
  if (!figures.isolated.foldQueuePaused) report.notes.push(`${id}: updates were folded during ingest (fold queue pause did not hold); the fold figure understates`);
  return {
    ...base,
    available: true,
    ckks: figures.ckks,
    noiseMultiplier: figures.noiseMultiplier,
    loadAverage1m: [Math.round(loadBefore * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
    figures: systemFigures(figures, options),
  };
}
