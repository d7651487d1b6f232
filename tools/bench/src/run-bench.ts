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
import { chooseScaleBits, ciphertextByteLength, ciphertextCount, type CkksParams, type Encoding, type PresetName } from '@secagg/ckks';
import { createDevCertificates, REPO_ROOT, SHIPPED_REDIS_CONF, type CertificateFiles } from '@secagg/local-cluster';
import { measureGrpcLimit, openGrpcLimit, SINK_IDENTITY, type GrpcLimitSession } from './limits/grpc-limit.js';
import { FLARE_BASELINE_ID, FLARE_HE_DEFAULTS, measureFlareBaseline } from './limits/peer-baseline.js';
import { plainFloat32SumRate } from './limits/plain-sum.js';
import { measureRedisSetMBps, REDIS_LIMIT_CONCURRENCY } from './limits/redis-limit.js';
import { ckksTesting, measureSealLimits, type SealLimits } from './limits/seal-limits.js';
import { machine, source, versions } from './machine.js';
import type { BenchOptions } from './options.js';
import { medianOf, RATIO_SEPARATOR, ratiosFor, REPORT_SCHEMA, judgedValue, type BenchReport, type ConfigurationReport, type GoalReport, type Measure } from './report.js';
import { runClusterRounds, type ClusterFigures, type IsolatedRound } from './system/cluster-rounds.js';

/** The HTTP/2 receive window of the "raised" transport limit (REFERENCE.md measured 4 MiB). */
export const RAISED_WINDOW_BYTES = 4 * 1024 * 1024;
/** The issue's memory goal: every process under 512 MiB for a 10,000,000-value update. */
export const RSS_GOAL_BYTES = 512 * 1024 * 1024;
export const RSS_GOAL_LENGTH = 10_000_000;

/** Issue 11's bars on the headline ratios. */
export const BARS = {
  foldOneAggregator: 0.5,
  foldTwoAggregators: 0.75,
  ingestToGrpcTls: 0.6,
  redisBytesPerValue: 1,
} as const;

interface ConfigurationSpec {
  role: 'system' | 'baseline';
  preset: PresetName;
  encoding: Encoding;
}

const configId = (c: { preset: string; encoding: string }) => `${c.preset}/${c.encoding}`;

/** Limit keys. */
export const LIMIT = {
  plainSum: 'plain.float32Sum',
  /** The engine's encrypt path (range check, encode, SEAL encrypt, save): what the SDK's per-ciphertext work can reach. */
  encryptEngine: (id: string) => `seal.encrypt.engine.${id}`,
  /** SEAL's bare Encryptor.encrypt of a pre-encoded plaintext: the floor under the engine path. */
  encryptBare: (id: string) => `seal.encrypt.bare.${id}`,
  loadAdd: (id: string) => `seal.loadAdd.${id}`,
  jsAdd: (id: string) => `js.addCiphertextInto.${id}`,
  validate: (id: string) => `js.validateCiphertext.${id}`,
  grpc: (security: 'tls' | 'plaintext', window: 'default' | 'raised', bytes: number) => `grpc.${security}.${window}Window.${bytes}B`,
  redis: (persistence: 'shipped' | 'noPersistence', bytes: number, inFlight: number) => `redis.set.${persistence}.${bytes}B.${inFlight}inFlight`,
};

/** Figure key of the fold by `n` aggregators. */
export const foldFigure = (n: number) => `foldValuesPerSec${n}Aggregator${n === 1 ? '' : 's'}`;
/** Key in `ratios` of the fold by `n` aggregators ÷ SEAL load+add (`foldToSealLoadAdd` for one, `foldToSealLoadAdd2` for two). */
export const foldRatioKey = (n: number) => (n === 1 ? 'foldToSealLoadAdd' : `foldToSealLoadAdd${n}`);

const measure = (value: number, unit: string, description: string): Measure => ({ value, unit, description });
/** A measure taken in trials: their median, with every trial kept (see Measure.samples). */
const fromTrials = (samples: number[], unit: string, description: string): Measure => ({ value: medianOf(samples), unit, description, samples });

/** The aggregator counts of the isolated rounds, interleaved: 1, n, 1, n, … (n alone in the memory run). */
function foldPlan(options: BenchOptions): number[] {
  const counts = options.mode === 'memory' || options.aggregators === 1 ? [options.aggregators] : [1, options.aggregators];
  return Array.from({ length: options.foldTrials }, () => counts).flat();
}

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
      baselineFlare: options.baseline ? `N ${FLARE_HE_DEFAULTS.polyModulusDegree}, [${FLARE_HE_DEFAULTS.coeffModulusBits.join(', ')}], scale 2^${FLARE_HE_DEFAULTS.scaleBits}, symmetric (node-seal only)` : 'none',
      aggregators: options.aggregators,
      foldPlan: foldPlan(options).map(String),
      roundMegabytes: options.roundBytes / 1e6,
      endToEndRound: options.endToEnd,
      gatewayEnv: Object.entries(options.gatewayEnv).map(([k, v]) => `${k}=${v}`),
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
    source: source(),
    limits: {},
    configurations: [],
    ratios: {},
    ratioSources: {},
    ratioTable: [],
    goals: [],
    notes: [],
  };
  if (Object.keys(options.gatewayEnv).length > 0) {
    report.notes.push(`the gateways ran with a non-default configuration: ${Object.entries(options.gatewayEnv).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  if (!report.source.treeClean) report.notes.push(`the working tree differed from ${report.source.secaggCommit} when the run started: do not commit these results as the project's`);
  const specs: ConfigurationSpec[] = options.encodings.map((encoding) => ({ role: 'system', preset: options.preset, encoding }));
  if (options.baseline && !specs.some((s) => s.preset === options.baselinePreset && s.encoding === 'slots')) {
    specs.push({ role: 'baseline', preset: options.baselinePreset, encoding: 'slots' });
  }

  // Limits next to the figures judged against them: a shared machine's load drifts over a run, so each group of
  // configurations (same ciphertext size) is measured right after its transport and Redis limits, and each
  // configuration right after its SEAL limits; the limits of ingest and fold also get one trial right before
  // every isolated round's ingest and fold (cluster-rounds.ts), so both sides are sampled the same way.
  log('limits: plain Float32Array sum');
  const plainSum = Array.from({ length: options.trials }, () => plainFloat32SumRate(options.limitSeconds));
  report.limits[LIMIT.plainSum] = fromTrials(plainSum, 'values/s', 'acc[i] += x[i] over two 64 Ki-value Float32Arrays, one thread');

  const certDir = mkdtempSync(join(tmpdir(), 'secagg-bench-tls-'));
  try {
    const certificates: CertificateFiles = createDevCertificates(certDir, [SINK_IDENTITY]);
    const sizeOf = (s: ConfigurationSpec) => ciphertextByteLength({ preset: s.preset, encoding: s.encoding, scaleBits: 20 });
    const systemSize = ciphertextByteLength({ preset: options.preset, encoding: 'slots', scaleBits: 20 });
    for (const bytes of [...new Set(specs.map(sizeOf))]) {
      await measureTransportLimits(report, options, bytes, bytes === systemSize, certificates, log);
      log(`limits: grpc-js client streaming ${bytes} B messages, TLS, default window, ${S} streams (trials interleaved with ingest)`);
      const tls = await openGrpcLimit({ messageBytes: bytes, streams: S, seconds: options.limitSeconds, tls: certificates, windowBytes: 0 });
      const tlsSamples: number[] = [];
      try {
        for (let t = 0; t < options.trials; t++) tlsSamples.push(await tls.trial());
        for (const spec of specs.filter((s) => sizeOf(s) === bytes)) {
          report.configurations.push(await measureConfiguration(report, options, spec, tls, tlsSamples, log));
        }
      } finally {
        await tls.close();
      }
      report.limits[LIMIT.grpc('tls', 'default', bytes)] = fromTrials(
        tlsSamples,
        'MB/s',
        `grpc-js client streaming to a sink process (SubmitUpdate frames, protobuf-es, no work), ${S} concurrent streams on separate connections, ${bytes}-byte ciphertexts, TLS, ${tls.windowHow}; payload bytes acknowledged per second; ${options.trials} trials up front, then one before every isolated round's ingest`,
      );
    }
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
  if (options.baseline) report.configurations.push(await measureFlareConfiguration(options, log));
  report.configurations.sort((a, b) => order(a) - order(b));
  function order(c: ConfigurationReport): number {
    const i = specs.findIndex((s) => configId(s) === c.id);
    return i === -1 ? specs.length : i;
  }

  report.ratioTable = ratiosFor(report, ratioPairs(report.configurations, options));
  headlineRatios(report, options);
  report.goals = goals(report, options);
  report.machine.loadAverageAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  report.wallSeconds = (performance.now() - started) / 1_000;
  return report;
}

/** The configuration the headline `ratios` describe: the system preset with coefficient encoding (the product's), else the first system one measured. */
export function headlineConfiguration(report: Pick<BenchReport, 'configurations'>, options: Pick<BenchOptions, 'preset'>): ConfigurationReport | undefined {
  const system = report.configurations.filter((c) => c.role === 'system' && c.available);
  return system.find((c) => c.id === `${options.preset}/coefficients`) ?? system[0];
}

/** Fills `ratios` and `ratioSources` from the headline configuration (each only when measured in this run). */
function headlineRatios(report: BenchReport, options: BenchOptions): void {
  const c = headlineConfiguration(report, options);
  if (!c) return;
  report.parameters.headlineConfiguration = c.id;
  const bytes = c.ckks!.ciphertextBytes;
  const ratio = (figure: string, limit: string) => `${c.id}/${figure}${RATIO_SEPARATOR}${limit}`;
  const sources: Record<string, string> = {};
  for (const n of new Set(foldPlan(options))) sources[foldRatioKey(n)] = ratio(foldFigure(n), LIMIT.loadAdd(c.id));
  sources.ingestToGrpcTls = ratio('ingestMBps', LIMIT.grpc('tls', 'default', bytes));
  sources.redisBytesPerValue = `${c.id}/redisBytesPerValue`;
  for (const [key, judgedOn] of Object.entries(sources)) {
    const value = judgedValue(report, judgedOn);
    if (value === undefined) {
      report.notes.push(`ratios.${key} not measured in this run (${judgedOn})`);
      continue;
    }
    report.ratios[key] = value;
    report.ratioSources[key] = judgedOn;
  }
}

function systemFigures(f: ClusterFigures, options: BenchOptions): Record<string, Measure> {
  const S = options.clients;
  const L = options.length;
  const z = f.noiseMultiplier;
  const updateBytes = f.ckks.ciphertextBytes * f.ckks.ciphertextCount;
  const first = f.isolated[0]!;
  const K = first.updates / S;
  const figures: Record<string, Measure> = {
    bytesPerValue: measure(
      updateBytes / L,
      'B/value',
      `ciphertext bytes of one update on the wire ÷ its ${L} values (${f.ckks.ciphertextCount} × ${f.ckks.ciphertextBytes} B, zero padding of the last ciphertext included)`,
    ),
    bytesPerValueFullCiphertext: measure(f.ckks.ciphertextBytes / f.ckks.valuesPerCiphertext, 'B/value', "one ciphertext's bytes ÷ the values it carries"),
    ingestMBps: fromTrials(
      f.isolated.map((r) => r.ingestPayloadBytes / r.ingestSeconds / 1e6),
      'MB/s',
      `gateway, one trial per isolated round: ${S} clients (separate TLS connections) each stream ${K} update(s) one after another (each its own client id, replaying one update encrypted beforehand); ciphertext bytes acknowledged (receipt = staged durably in the ciphertext store and committed in Redis) ÷ wall time; aggregators frozen (SIGSTOP)`,
    ),
    ingestValuesPerSec: fromTrials(
      f.isolated.map((r) => (r.updates * L) / r.ingestSeconds),
      'values/s',
      'the same ingest in values acknowledged per second',
    ),
    releaseSeconds: fromTrials(
      f.isolated.map((r) => r.releaseSeconds),
      's',
      'isolated rounds: every update folded → finalize, keyholder decrypt, range check, noise, result downloaded by the coordinator',
    ),
    redisUsedMemoryPeakBytes: measure(f.redisUsedMemoryPeakBytes, 'B', "INFO memory used_memory_peak of the cluster's private redis-server over every round"),
    redisAofRewrites: measure(f.redisAofRewrites, 'count', 'AOF rewrites Redis ran during the rounds (each forks and rewrites the whole data set)'),
  };
  for (const n of new Set(f.isolated.map((r) => r.aggregators))) {
    const rounds = f.isolated.filter((r) => r.aggregators === n);
    figures[foldFigure(n)] = fromTrials(
      rounds.map((r) => (r.updates * L) / r.foldSeconds),
      'values/s',
      `${n} aggregator process(es), one trial per isolated round: ${rounds[0]!.updates} committed updates folded ÷ time from thawing the aggregators (SIGCONT: frozen, already running, during ingest; no start-up) to the round reporting every update durably folded into every range — each update's ranges read from the ciphertext store and added into the in-memory partial sums (all but the first into a non-empty sum), then checkpointed (fdatasync) and recorded in Redis`,
    );
    figures[`foldMBps${n}`] = fromTrials(
      rounds.map((r) => (r.updates * updateBytes) / r.foldSeconds / 1e6),
      'MB/s',
      `the same fold by ${n} aggregator(s) in update ciphertext bytes folded per second`,
    );
  }
  // Redis traffic: the end-to-end round when there is one (a deployment's round), else the isolated rounds.
  const isolatedValues = f.isolated.reduce((n, r) => n + r.updates * L, 0);
  const isolatedIn = f.isolated.reduce((n, r) => n + r.redis.inputBytes, 0);
  const isolatedOut = f.isolated.reduce((n, r) => n + r.redis.outputBytes, 0);
  const isolatedDownload = f.isolated.reduce((n, r) => n + r.redis.resultDownloadBytes, 0);
  const traffic = f.endToEnd
    ? { values: S * L, in: f.endToEnd.redis.inputBytes, out: f.endToEnd.redis.outputBytes, download: f.endToEnd.redis.resultDownloadBytes, what: `the end-to-end round (${S} clients × ${L} values)` }
    : { values: isolatedValues, in: isolatedIn, out: isolatedOut, download: isolatedDownload, what: `the isolated round(s) (${isolatedValues} values uploaded in all)` };
  const how = `Redis INFO total_net_input_bytes + total_net_output_bytes of the cluster's private redis-server, read before CreateRound and after the result was downloaded, over ${traffic.what}, ÷ values uploaded (clients × values per update). Includes every client of that Redis: the services, BullMQ, the benchmark's status polls every ${20} ms, and the released result's record (header, object name, SHA-256, length: the sum itself is in the ciphertext store)`;
  figures.redisBytesPerValue = measure((traffic.in + traffic.out) / traffic.values, 'B/value', how);
  figures.redisInputBytesPerValue = measure(traffic.in / traffic.values, 'B/value', `the input half of redisBytesPerValue`);
  figures.redisOutputBytesPerValue = measure(traffic.out / traffic.values, 'B/value', `the output half of redisBytesPerValue`);
  figures.redisResultBytesPerValue = measure(
    (2 * traffic.download) / traffic.values,
    'B/value',
    "the released result's share of redisBytesPerValue: the output bytes of the coordinator's one result download (INFO just before and after it), twice (the aggregator wrote the same record once); the sum itself is read from the ciphertext store, so this is the record only (hundreds of bytes, not 8 B × L)",
  );
  figures.redisBytesPerValueExcludingResult = measure(
    Math.max(0, traffic.in + traffic.out - 2 * traffic.download) / traffic.values,
    'B/value',
    'redisBytesPerValue less redisResultBytesPerValue: the metadata, queue and polling traffic per value uploaded',
  );
  if (f.endToEnd) {
    figures.redisBytesPerValueIsolatedRounds = measure((isolatedIn + isolatedOut) / isolatedValues, 'B/value', `as redisBytesPerValue, over the isolated rounds (${isolatedValues} values uploaded in all)`);
  }
  if (f.clientEncryptValuesPerSec.length > 0) {
    figures.clientEncryptValuesPerSec = fromTrials(
      f.clientEncryptValuesPerSec,
      'values/s',
      `the SDK's path (clip, engine, public key, encryptVector) over a ${L}-value update on one thread, with the round's key; trials alternate with the encrypt limits'`,
    );
    figures.clientEncryptPoolValuesPerSec = fromTrials(
      f.clientPoolEncryptValuesPerSec,
      'values/s',
      `the SDK's default path (clip, EncryptionPool of ${f.clientPoolThreads} worker threads, chunks in order) over a ${L}-value update; trials alternate with the encrypt limits'`,
    );
    figures.clientEncryptPoolValuesPerSecPerCore = fromTrials(
      f.clientPoolEncryptValuesPerSec.map((v) => v / f.clientPoolThreads),
      'values/s',
      `the SDK's default path ÷ its ${f.clientPoolThreads} worker threads (one per core): client encryption per core`,
    );
  }
  const e = f.endToEnd;
  if (e) {
    Object.assign(figures, {
      e2eRoundSeconds: measure(e.roundSeconds, 's', `CreateRound → ${S} SDK client processes (update in memory; the SDK's worker pool starts on submission) clip, encrypt and submit concurrently → fold → release → result downloaded`),
      e2eIngestMBps: measure(e.payloadBytes / e.acknowledgedSeconds / 1e6, 'MB/s', 'end-to-end round: ciphertext bytes acknowledged ÷ time from CreateRound to the last receipt (clients encrypt while streaming, on the same machine)'),
      e2eValuesPerSec: measure((S * L) / e.roundSeconds, 'values/s', 'end-to-end round: S·L ÷ round time'),
      e2eFoldLagSeconds: measure(e.foldLagSeconds, 's', 'end-to-end round: last receipt → every update folded'),
      e2eReleaseSeconds: measure(e.releaseSeconds, 's', 'end-to-end round: every update folded → result downloaded'),
      releasedMaxAbsDeviation: measure(
        e.maxAbsError,
        'value units',
        z > 0
          ? `end-to-end round: max |released − true sum of clipped updates| with noise σ = z·C = ${z * options.clipNorm} (checked ≤ 10σ)`
          : 'end-to-end round, noise-free test release: max |released − true sum of clipped updates| (the CKKS error)',
      ),
      'peakRss.client': measure(e.clientPeakRssBytes, 'B', 'VmHWM of the largest SDK client process (one update each)'),
    });
  }
  let processMax = e?.clientPeakRssBytes ?? 0;
  for (const [name, bytes] of Object.entries(f.peakRssBytes)) {
    figures[`peakRss.${name}`] = measure(bytes, 'B', `VmHWM of ${name} over every round (read from /proc before each exit; the largest over its incarnations)`);
    processMax = Math.max(processMax, bytes);
  }
  figures.peakRssMax = measure(processMax, 'B', `largest VmHWM of ${e ? 'the client processes, ' : ''}the gateway, aggregators, keyholder and redis-server`);
  return figures;
}

function ratioPairs(configurations: ConfigurationReport[], options: BenchOptions): { figure: string; limit: string }[] {
  const inFlight = options.clients * GATEWAY_INFLIGHT_PER_STREAM;
  const pairs: { figure: string; limit: string }[] = [];
  for (const c of configurations) {
    if (!c.available || c.measuredOn === 'node-seal') continue;
    const bytes = c.ckks!.ciphertextBytes;
    const f = (key: string) => `${c.id}/${key}`;
    pairs.push(
      { figure: f('clientEncryptValuesPerSec'), limit: LIMIT.encryptEngine(c.id) },
      { figure: f('clientEncryptPoolValuesPerSecPerCore'), limit: LIMIT.encryptEngine(c.id) },
      { figure: f('clientEncryptPoolValuesPerSecPerCore'), limit: LIMIT.encryptBare(c.id) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('tls', 'default', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('tls', 'raised', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('plaintext', 'default', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.grpc('plaintext', 'raised', bytes) },
      { figure: f('ingestMBps'), limit: LIMIT.redis('shipped', bytes, REDIS_LIMIT_CONCURRENCY) },
      { figure: f('ingestMBps'), limit: LIMIT.redis('shipped', bytes, inFlight) },
      { figure: f('ingestMBps'), limit: LIMIT.validate(c.id) },
      { figure: f('e2eIngestMBps'), limit: LIMIT.grpc('tls', 'default', bytes) },
    );
    for (const n of new Set(foldPlan(options))) {
      pairs.push(
        { figure: f(foldFigure(n)), limit: LIMIT.loadAdd(c.id) },
        { figure: f(foldFigure(n)), limit: LIMIT.jsAdd(c.id) },
        { figure: f(foldFigure(n)), limit: LIMIT.plainSum },
      );
    }
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
        description: `gateway acknowledged ingest ≥ ${BARS.ingestToGrpcTls} of the grpc-js loopback limit (same message size, TLS like the cluster, grpc-js default window)`,
        comparison: '>=',
        target: BARS.ingestToGrpcTls,
        judgedOn: ratio(`${c.id}/ingestMBps`, LIMIT.grpc('tls', 'default', bytes)),
        note: 'medians of trials interleaved with each other; see the ratios to the raised-window, plaintext and Redis limits for what bounds it',
      },
      missing,
    );
    if (options.endToEnd) {
      judge(
        {
          id: `client-encryption/${c.id}`,
          description: "client encryption (the SDK's default worker-thread path) ≥ 80% of the engine's encrypt path, per core",
          comparison: '>=',
          target: 0.8,
          judgedOn: ratio(`${c.id}/clientEncryptPoolValuesPerSecPerCore`, LIMIT.encryptEngine(c.id)),
          note: "the limit is one thread of CkksEngine encrypt (range check, encode, SEAL encrypt, save); see the ratio to SEAL's bare encrypt for the floor under it",
        },
        missing,
      );
    }
    for (const n of new Set(foldPlan(options))) {
      const target = n === 1 ? BARS.foldOneAggregator : BARS.foldTwoAggregators;
      judge(
        {
          id: `fold-${n}-aggregator${n === 1 ? '' : 's'}/${c.id}`,
          description: `fold by ${n} aggregator process${n === 1 ? '' : 'es'} ≥ ${target} of SEAL's own load+add (one thread, working set larger than the CPU caches)`,
          comparison: '>=',
          target,
          judgedOn: ratio(`${c.id}/${foldFigure(n)}`, LIMIT.loadAdd(c.id)),
          note: 'aggregators share the machine with Redis and the other services; no start-up in the time (thawed, not restarted); additions into non-empty in-memory partial sums; see notes for ranges vs aggregators',
        },
        missing,
      );
    }
    judge(
      {
        id: `redis-bytes-per-value/${c.id}`,
        description: `Redis bytes in + out per value uploaded ≤ ${BARS.redisBytesPerValue} (metadata only)`,
        comparison: '<=',
        target: BARS.redisBytesPerValue,
        judgedOn: `${c.id}/redisBytesPerValue`,
        note: `INFO total_net_input_bytes + total_net_output_bytes over the round ÷ (clients × values); the released sum alone costs 16/S B per value (S = ${options.clients})`,
      },
      missing,
    );
    const memoryGoal: Omit<GoalReport, 'value' | 'met'> = {
      id: `memory/${c.id}`,
      description: `a ${RSS_GOAL_LENGTH.toLocaleString('en')}-value round of 20 clients with every process (${options.endToEnd ? 'clients, ' : ''}gateway, aggregators, keyholder, redis-server) ≤ 512 MiB peak RSS`,
      comparison: '<=',
      target: RSS_GOAL_BYTES,
      judgedOn: `${c.id}/peakRssMax`,
      note: `measured with ${options.clients} clients × ${options.length.toLocaleString('en')}-value updates`,
    };
    if (options.length >= RSS_GOAL_LENGTH) judge(memoryGoal, missing);
    else {
      const peak = c.figures.peakRssMax?.value;
      result.push({
        ...memoryGoal,
        note: `updates of ${options.length.toLocaleString('en')} values (< ${RSS_GOAL_LENGTH.toLocaleString('en')}); largest process peak ${peak === undefined ? 'n/a' : `${(peak / 2 ** 20).toFixed(0)} MiB`}; run with --memory-run`,
      });
    }
  }
  return result;
}

/** The gateway's default pipelining depth per stream (GATEWAY_MAX_INFLIGHT_CHUNKS_PER_STREAM). */
const GATEWAY_INFLIGHT_PER_STREAM = 8;

/** Redis limits and the grpc-js variants other than TLS with the default window (that one is interleaved with ingest). */
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
    ? [['tls', 'raised'], ['plaintext', 'default'], ['plaintext', 'raised']]
    : [['tls', 'raised']];
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
  tls: GrpcLimitSession,
  tlsSamples: number[],
  log: (line: string) => void,
): Promise<ConfigurationReport> {
  const S = options.clients;
  const L = options.length;
  const id = configId(spec);
  const base = { id, role: spec.role, preset: spec.preset, encoding: spec.encoding, measuredOn: 'cluster' as const };
  log(`limits: node-seal for ${id}`);
  let seal: SealLimits;
  let params: CkksParams;
  try {
    params = { preset: spec.preset, encoding: spec.encoding, scaleBits: chooseScaleBits(spec.preset, spec.encoding, S, options.clipNorm) };
    seal = await measureSealLimits(params, options.limitSeconds, options.trials);
  } catch (error) {
    const reason = `@secagg/ckks cannot encrypt ${id}: ${(error as Error).message}`;
    log(`  unavailable: ${reason}`);
    return { ...base, available: false, unavailableReason: reason, figures: {} };
  }
  const loadAddSamples = seal.sealLoadAddValuesPerSec ?? [];
  if (seal.sealLoadAddValuesPerSec === undefined) report.notes.push(`SEAL load+add limit of ${id} not measured: ${seal.sealLoadAddUnavailable}`);
  const workingSet = `cycling ${seal.workingSetCiphertexts} ciphertexts (${((seal.workingSetCiphertexts * seal.ciphertextBytes) / 2 ** 20).toFixed(0)} MiB, more than the CPU caches)`;
  report.limits[LIMIT.jsAdd(id)] = fromTrials(seal.addCiphertextIntoValuesPerSec, 'values/s', `@secagg/ckks addCiphertextInto (the SEAL-free add on bytes), one thread, ${workingSet}`);
  report.limits[LIMIT.validate(id)] = fromTrials(seal.validateMBps, 'MB/s', "validateCiphertext (the gateway's check of every chunk), one thread");

  const updateBytes = ciphertextCount(params, L) * ciphertextByteLength(params);
  const updatesPerClient = options.mode === 'memory' ? 1 : Math.max(1, Math.ceil(options.roundBytes / (S * updateBytes)));
  const plan = foldPlan(options);
  log(`system: ${id} (${spec.role}) on a local cluster`);
  const loadBefore = loadavg()[0]!;
  let figures: ClusterFigures;
  try {
    figures = await runClusterRounds({
      preset: spec.preset,
      encoding: spec.encoding,
      clients: S,
      length: L,
      clipNorm: options.clipNorm,
      updateNorm: 1.5 * options.clipNorm,
      noiseMultiplier: options.noiseMultiplier,
      aggregators: options.aggregators,
      foldAggregators: plan,
      updatesPerClient,
      endToEnd: options.endToEnd,
      gatewayEnv: options.gatewayEnv,
      encryptSeconds: options.limitSeconds,
      trials: options.trials,
      timeoutMs: 120_000 + (S * updatesPerClient * updateBytes) / 5_000, // at 5 MB/s, at least 2 minutes
      interleave: {
        beforeIngest: async () => {
          tlsSamples.push(await tls.trial());
        },
        beforeFold: async () => {
          if (seal.loadAdd) loadAddSamples.push(seal.loadAdd.trial(options.limitSeconds));
        },
      },
      log,
    });
  } finally {
    seal.loadAdd?.dispose();
  }
  if (loadAddSamples.length > 0) {
    report.limits[LIMIT.loadAdd(id)] = fromTrials(
      loadAddSamples,
      'values/s',
      `SEAL's own Ciphertext load + Evaluator.addInplace of serialized ciphertexts, one thread, ${workingSet}; ${options.trials} trials up front, then one before every isolated round's fold`,
    );
  }
  if (figures.rawEncryptValuesPerSec.length > 0) {
    report.limits[LIMIT.encryptEngine(id)] = fromTrials(
      figures.rawEncryptValuesPerSec,
      'values/s',
      `the engine's encrypt path: CkksEngine encrypt of one ciphertext's ${figures.ckks.valuesPerCiphertext} values (range check, encode, SEAL encrypt, save) in a tight loop, one thread, the round's key and scale 2^${figures.ckks.scaleBits}; trials alternate with the client figures'`,
    );
  }
  if (typeof figures.bareEncryptValuesPerSec === 'string') report.notes.push(`SEAL's bare encrypt of ${id} not measured: ${figures.bareEncryptValuesPerSec}`);
  else if (figures.bareEncryptValuesPerSec.length > 0) {
    report.limits[LIMIT.encryptBare(id)] = fromTrials(
      figures.bareEncryptValuesPerSec,
      'values/s',
      `SEAL's bare public-key encrypt: Encryptor.encrypt of one plaintext encoded once (no range check, no encode, no save), counted as ${figures.ckks.valuesPerCiphertext} values per ciphertext, one thread, the round's key; trials alternate with the client figures'`,
    );
  }
  if (figures.noiseMultiplier !== options.noiseMultiplier) {
    report.notes.push(`${id}: noise multiplier raised from ${options.noiseMultiplier} to ${figures.noiseMultiplier}: the keyholder refuses a smaller noise-flooding margin for these clients (noise costs the same time at any σ)`);
  }
  const retries = figures.isolated.reduce((n, r) => n + r.ingestRetries, 0);
  if (retries > 0) {
    report.notes.push(`${id}: the gateway refused ${retries} upload(s) for a full staging budget (GATEWAY_MAX_STAGED_BYTES) during the isolated rounds' ingest; the benchmark retried each after the gateway's retry hint, as the SDK does, and the wait is in the ingest figure`);
  }
  const unpaused = figures.isolated.filter((r: IsolatedRound) => !r.foldQueuePaused).length;
  if (unpaused > 0) report.notes.push(`${id}: in ${unpaused} isolated round(s) updates were folded during ingest (an aggregator was not frozen); the fold figure understates`);
  const ranges = Math.ceil(figures.ckks.ciphertextCount / 64);
  if (ranges < options.aggregators) {
    report.notes.push(`${id}: an update is ${figures.ckks.ciphertextCount} ciphertexts, ${ranges} range(s) at the aggregators' default 64 ciphertexts per range: fewer ranges than the ${options.aggregators} aggregators, so they cannot all fold at once`);
  }
  if (options.mode === 'memory') {
    report.notes.push(`${id}: memory run — each of the ${S} clients replays one ${L}-value update encrypted once by the benchmark (distinct client ids), instead of encrypting its own: encrypting ${S} × ${L} values would take too long on this machine; no end-to-end round`);
  }
  return {
    ...base,
    available: true,
    ckks: figures.ckks,
    noiseMultiplier: figures.noiseMultiplier,
    loadAverage1m: [Math.round(loadBefore * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
    figures: systemFigures(figures, options),
  };
}

/** NVIDIA FLARE's HE defaults reproduced with node-seal (limits/peer-baseline.ts): bytes, encrypt, load+add; no cluster. */
async function measureFlareConfiguration(options: BenchOptions, log: (line: string) => void): Promise<ConfigurationReport> {
  const [preset, encoding] = FLARE_BASELINE_ID.split('/') as [string, string];
  const base = { id: FLARE_BASELINE_ID, role: 'baseline' as const, preset, encoding, measuredOn: 'node-seal' as const };
  log(`baseline: ${FLARE_BASELINE_ID} (NVIDIA FLARE's HE defaults, node-seal only)`);
  const kit = await ckksTesting();
  if (typeof kit === 'string') return { ...base, available: false, unavailableReason: kit, figures: {} };
  const b = await measureFlareBaseline(kit, options.limitSeconds, options.trials);
  const L = options.length;
  const count = Math.ceil(L / b.valuesPerCiphertext);
  const perValue = (bytes: number) => bytes / b.valuesPerCiphertext;
  return {
    ...base,
    available: true,
    ckks: { scaleBits: FLARE_HE_DEFAULTS.scaleBits, valuesPerCiphertext: b.valuesPerCiphertext, ciphertextBytes: b.bytes.fullZstd, ciphertextCount: count },
    figures: {
      bytesPerValue: measure((count * b.bytes.fullZstd) / L, 'B/value', `a ${L}-value update as TenSEAL sends it (full ciphertexts, zstd): ${count} × ${b.bytes.fullZstd} B ÷ ${L} values (TenSEAL measured 57.7 B/value here)`),
      bytesPerValueFullCiphertext: measure(perValue(b.bytes.fullZstd), 'B/value', "one ciphertext's bytes (full, zstd) ÷ the values it carries"),
      bytesPerValueFullNone: measure(perValue(b.bytes.fullNone), 'B/value', 'full ciphertext, no compression'),
      bytesPerValueSeededNone: measure(perValue(b.bytes.seededNone), 'B/value', "SEAL's seeded symmetric form (c1 sent as its seed), no compression: not what TenSEAL sends"),
      bytesPerValueSeededZstd: measure(perValue(b.bytes.seededZstd), 'B/value', 'seeded form with zstd'),
      clientEncryptValuesPerSec: fromTrials(b.encryptValuesPerSec, 'values/s', 'encode + symmetric encrypt + save (full, zstd), one thread'),
      loadAddValuesPerSec: fromTrials(b.loadAddZstdValuesPerSec, 'values/s', "SEAL's load (zstd) + add of the wire form, one thread, cycling more than the CPU caches: the server's cost per value"),
      loadAddNoneValuesPerSec: fromTrials(b.loadAddNoneValuesPerSec, 'values/s', "SEAL's load + add of uncompressed full ciphertexts, one thread, cycling more than the CPU caches"),
    },
  };
}
