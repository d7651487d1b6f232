/**
 * The benchmark's correctness, never its speed: a `--quick` run in a tiny
 * configuration (real clusters, real Redis, real node-seal) must produce a
 * sound report — every figure and limit finite, every ratio figure ÷ limit,
 * the figures the issue asks for present — and the checker must catch a
 * report that is not sound.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ciphertextByteLength, DEFAULT_PRESET, valuesPerCiphertext } from '@secagg/ckks';
import { FLARE_BASELINE_ID } from './limits/peer-baseline.js';
import { parseBenchArgs } from './options.js';
import { checkReport, REPORT_SCHEMA, type BenchReport } from './report.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), 'cli.js');
const CLIENTS = 2;
const LENGTH = 5_000; // not a multiple of any preset's values per ciphertext
const SYSTEM = DEFAULT_PRESET;
const SYSTEM_BYTES = ciphertextByteLength({ preset: SYSTEM, encoding: 'slots', scaleBits: 20 });

/** Figures every measured configuration must report. */
const SYSTEM_FIGURES = [
  'bytesPerValue',
  'bytesPerValueFullCiphertext',
  'clientEncryptValuesPerSec',
  'clientEncryptPoolValuesPerSec',
  'clientEncryptPoolValuesPerSecPerCore',
  'ingestMBps',
  'ingestValuesPerSec',
  'foldValuesPerSec1Aggregator',
  'foldValuesPerSec2Aggregators',
  'foldMBps1',
  'foldMBps2',
  'releaseSeconds',
  'e2eRoundSeconds',
  'e2eIngestMBps',
  'e2eFoldLagSeconds',
  'releasedMaxAbsDeviation',
  'redisUsedMemoryPeakBytes',
  'redisBytesPerValue',
  'redisInputBytesPerValue',
  'redisOutputBytesPerValue',
  'redisResultBytesPerValue',
  'redisBytesPerValueExcludingResult',
  'peakRss.client',
  'peakRss.client-gateway',
  'peakRss.keyholder',
  'peakRss.aggregator-1',
  'peakRss.aggregator-2',
  'peakRss.redis-server',
  'peakRssMax',
];

describe('npm run bench -- --quick, tiny configuration', () => {
  let dir: string;
  let report: BenchReport;
  let stdout: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secagg-bench-test-'));
    const out = join(dir, 'latest.json');
    // One update per client (--round-megabytes 0): the figures' mechanics, not their size.
    const args = ['--enable-source-maps', CLI, '--quick', '--clients', String(CLIENTS), '--length', String(LENGTH), '--limit-seconds', '0.2', '--round-megabytes', '0', '--out', out];
    const run = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 540_000 }).catch((error: unknown) => {
      const e = error as { stderr?: string; message: string };
      throw new Error(`the benchmark failed: ${e.message}\n${e.stderr ?? ''}`);
    });
    stdout = run.stdout;
    report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes a report the checker finds sound: every figure finite, every ratio = figure ÷ limit', () => {
    assert.deepEqual(checkReport(report), []);
    assert.equal(report.schema, REPORT_SCHEMA);
    assert.equal(report.mode, 'quick');
    assert.equal(report.parameters.clients, CLIENTS);
    assert.equal(report.parameters.length, LENGTH);
    for (const key of ['node', 'nodeSeal', 'grpcJs', 'bullmq', 'redis']) assert.match(report.versions[key]!, /^v?\d+\.\d+/, key);
    assert.ok(Number(report.machine.cores) >= 1);
    assert.ok(Number(report.machine.memoryBytes) > 0);
  });

  it('measures both encodings of the system preset and the peer baseline, or says why an encoding is unavailable', () => {
    assert.deepEqual(
      report.configurations.map((c) => [c.id, c.role]),
      [
        [`${SYSTEM}/slots`, 'system'],
        [`${SYSTEM}/coefficients`, 'system'],
        ['n8192-q60x4/slots', 'baseline'],
        [FLARE_BASELINE_ID, 'baseline'],
      ],
    );
    const slots = report.configurations[0]!;
    assert.equal(slots.available, true, slots.unavailableReason);
    for (const c of report.configurations.filter((x) => x.measuredOn !== 'node-seal')) {
      if (!c.available) {
        assert.equal(c.role, 'system');
        assert.match(c.unavailableReason ?? '', /coefficients/);
        continue;
      }
      for (const key of SYSTEM_FIGURES) assert.ok(c.figures[key] !== undefined, `${c.id} lacks ${key}`);
      const ckks = c.ckks!;
      // Bytes per value are the wire bytes of one update over its values, padding included.
      assert.equal(ckks.ciphertextCount, Math.ceil(LENGTH / ckks.valuesPerCiphertext));
      assert.equal(c.figures.bytesPerValue!.value, (ckks.ciphertextBytes * ckks.ciphertextCount) / LENGTH);
      const params = { preset: c.preset as typeof SYSTEM, encoding: c.encoding as 'slots' | 'coefficients', scaleBits: ckks.scaleBits };
      assert.equal(ckks.valuesPerCiphertext, valuesPerCiphertext(params));
      assert.equal(ckks.ciphertextBytes, ciphertextByteLength(params));
      for (const key of SYSTEM_FIGURES.filter((k) => k.startsWith('peakRss'))) assert.ok(c.figures[key]!.value > 1024 * 1024, `${c.id} ${key}`);
    }
  });

  it('relates each system figure to the limit the issue names, measured in the same run', () => {
    for (const c of report.configurations.filter((x) => x.available && x.measuredOn === 'cluster')) {
      const bytes = c.ckks!.ciphertextBytes;
      const limitsOf = (figure: string) => report.ratioTable.filter((r) => r.figure === `${c.id}/${figure}`).map((r) => r.limit);
      assert.ok(limitsOf('clientEncryptValuesPerSec').includes(`seal.encrypt.engine.${c.id}`));
      assert.ok(limitsOf('clientEncryptPoolValuesPerSecPerCore').includes(`seal.encrypt.engine.${c.id}`));
      assert.ok(limitsOf('clientEncryptPoolValuesPerSecPerCore').includes(`seal.encrypt.bare.${c.id}`));
      assert.ok(limitsOf('ingestMBps').includes(`grpc.tls.defaultWindow.${bytes}B`));
      assert.ok(limitsOf('ingestMBps').includes(`redis.set.shipped.${bytes}B.8inFlight`));
      for (const fold of ['foldValuesPerSec1Aggregator', 'foldValuesPerSec2Aggregators']) {
        assert.ok(limitsOf(fold).includes(`seal.loadAdd.${c.id}`), fold);
        assert.ok(limitsOf(fold).includes('plain.float32Sum'), fold);
      }
    }
    assert.ok(report.limits[`redis.set.noPersistence.${SYSTEM_BYTES}B.8inFlight`] !== undefined);
    assert.ok(report.limits[`redis.set.shipped.${SYSTEM_BYTES}B.${CLIENTS * 8}inFlight`] !== undefined);
    assert.ok(report.limits[`grpc.plaintext.defaultWindow.${SYSTEM_BYTES}B`] !== undefined);
    assert.ok(report.limits[`seal.encrypt.engine.${SYSTEM}/slots`]!.samples!.length >= 1);
    // Limits judged against ingest and fold get a trial before each isolated round besides their own trials.
    const trials = Number(report.parameters.limitTrials);
    assert.equal(report.limits[`grpc.tls.defaultWindow.${SYSTEM_BYTES}B`]!.samples!.length, trials + 2 * 2, 'two configurations of this size, two isolated rounds each');
    assert.equal(report.limits[`seal.loadAdd.${SYSTEM}/slots`]!.samples!.length, trials + 2);
    const goals = report.goals.map((g) => g.id);
    for (const id of [
      'bytes-per-value',
      `ingest/${SYSTEM}/slots`,
      `client-encryption/${SYSTEM}/slots`,
      `fold-1-aggregator/${SYSTEM}/slots`,
      `fold-2-aggregators/${SYSTEM}/slots`,
      `redis-bytes-per-value/${SYSTEM}/slots`,
      `memory/${SYSTEM}/slots`,
    ]) {
      assert.ok(goals.includes(id), id);
    }
    // 5,000 values is not the memory goal's 10,000,000: reported, not judged.
    assert.equal(report.goals.find((g) => g.id === `memory/${SYSTEM}/slots`)!.met, undefined);
  });

  it('fills the headline ratios object: the four of issue 11, each finite, positive and equal to what it names', () => {
    assert.equal(report.parameters.headlineConfiguration, `${SYSTEM}/coefficients`);
    for (const key of ['foldToSealLoadAdd', 'foldToSealLoadAdd2', 'ingestToGrpcTls', 'redisBytesPerValue']) {
      const value = report.ratios[key];
      assert.ok(typeof value === 'number' && Number.isFinite(value) && value > 0, `ratios.${key} = ${String(value)}`);
    }
    assert.equal(report.ratioSources.foldToSealLoadAdd, `${SYSTEM}/coefficients/foldValuesPerSec1Aggregator ÷ seal.loadAdd.${SYSTEM}/coefficients`);
    const coefficients = report.configurations.find((c) => c.id === `${SYSTEM}/coefficients`)!;
    assert.equal(report.ratios.redisBytesPerValue, coefficients.figures.redisBytesPerValue!.value);
    // The released result was downloaded in the measured round: its record's Redis bytes are a share of the bytes, not more.
    const result = coefficients.figures.redisResultBytesPerValue!.value;
    assert.ok(result > 0 && result <= report.ratios.redisBytesPerValue, `result share ${result}`);
    assert.equal(
      report.ratios.ingestToGrpcTls,
      coefficients.figures.ingestMBps!.value / report.limits[`grpc.tls.defaultWindow.${SYSTEM_BYTES}B`]!.value,
    );
    assert.equal(typeof report.source.treeClean, 'boolean');
    assert.match(report.source.secaggCommit, /^[0-9a-f]{40}$/);
  });

  it('measures the FLARE baseline (N 8192, [60, 40, 40], symmetric) with node-seal: the wire form is the full ciphertext with zstd', () => {
    const flare = report.configurations.find((c) => c.id === FLARE_BASELINE_ID)!;
    assert.equal(flare.available, true, flare.unavailableReason);
    assert.equal(flare.measuredOn, 'node-seal');
    assert.equal(flare.ckks!.valuesPerCiphertext, 4096);
    // Uncompressed: two polynomials of two 8-byte-word primes (the special prime is dropped) per 4096 values, plus the header.
    assert.equal(flare.figures.bytesPerValueFullNone!.value, (113 + 2 * 2 * 8192 * 8) / 4096);
    const zstd = flare.figures.bytesPerValueFullCiphertext!.value;
    assert.ok(zstd > 40 && zstd < 64, `full + zstd ${zstd} B/value`);
    assert.ok(flare.figures.bytesPerValueSeededNone!.value < flare.figures.bytesPerValueFullNone!.value / 1.9);
    for (const key of ['clientEncryptValuesPerSec', 'loadAddValuesPerSec', 'loadAddNoneValuesPerSec']) assert.ok(flare.figures[key]!.value > 0, key);
  });

  it('prints the markdown tables', () => {
    assert.match(stdout, /^\| limit \| median of trials \| trials min – max \|$/m);
    assert.match(stdout, /^\| foldToSealLoadAdd \| \d/m);
    assert.ok(stdout.includes(`| figure | ${SYSTEM}/slots | ${SYSTEM}/coefficients | n8192-q60x4/slots (peer baseline) | ${FLARE_BASELINE_ID} (peer baseline, node-seal only) |\n`));
    assert.match(stdout, /^\| bytes per value on the wire \|/m);
  });
});

describe('checkReport', () => {
  function sound(): BenchReport {
    return {
      schema: REPORT_SCHEMA,
      timestamp: new Date(0).toISOString(),
      mode: 'quick',
      wallSeconds: 1,
      parameters: {},
      versions: {},
      machine: {},
      source: { secaggCommit: 'abc', treeClean: true },
      limits: { 'plain.float32Sum': { value: 3e8, unit: 'values/s', description: 'sum', samples: [3e8, 4e8, 2e8] } },
      configurations: [
        {
          id: 'p/slots',
          role: 'system',
          preset: 'p',
          encoding: 'slots',
          available: true,
          figures: { foldValuesPerSec: { value: 0.75e8, unit: 'values/s', description: 'fold' }, redisBytesPerValue: { value: 0.5, unit: 'B/value', description: 'redis' } },
        },
      ],
      ratios: { foldToSealLoadAdd: 0.25, redisBytesPerValue: 0.5 },
      ratioSources: { foldToSealLoadAdd: 'p/slots/foldValuesPerSec ÷ plain.float32Sum', redisBytesPerValue: 'p/slots/redisBytesPerValue' },
      ratioTable: [{ figure: 'p/slots/foldValuesPerSec', limit: 'plain.float32Sum', value: 0.25 }],
      goals: [{ id: 'fold', description: 'fold', comparison: '>=', target: 0.5, judgedOn: 'p/slots/foldValuesPerSec ÷ plain.float32Sum', value: 0.25, met: false, note: '' }],
      notes: [],
    };
  }

  it('accepts a sound report', () => {
    assert.deepEqual(checkReport(sound()), []);
  });

  it('finds a ratio that is not figure ÷ limit', () => {
    const r = sound();
    r.ratioTable[0]!.value = 0.3;
    assert.match(checkReport(r).join('\n'), /ratio p\/slots\/foldValuesPerSec ÷ plain\.float32Sum = 0\.3, expected 0\.25/);
  });

  it('finds a non-finite figure and a limit that is not the median of its trials', () => {
    const r = sound();
    r.configurations[0]!.figures.foldValuesPerSec!.value = Number.NaN;
    r.limits['plain.float32Sum']!.samples = [1, 2, 4, 5];
    const problems = checkReport(r).join('\n');
    assert.match(problems, /figure p\/slots\/foldValuesPerSec: value NaN is not finite/);
    assert.match(problems, /value 300000000 is not the median of its samples/);
    const even = sound();
    even.limits['plain.float32Sum'] = { value: 3, unit: 'values/s', description: 'sum', samples: [1, 2, 4, 5] };
    assert.doesNotMatch(checkReport(even).join('\n'), /median/);
  });

  it('finds a headline ratio that is not what its source names, or not a finite positive number', () => {
    const r = sound();
    r.ratios.foldToSealLoadAdd = 0.3;
    assert.match(checkReport(r).join('\n'), /ratios\.foldToSealLoadAdd = 0\.3 != p\/slots\/foldValuesPerSec ÷ plain\.float32Sum = 0\.25/);
    const s = sound();
    s.ratios.ingestToGrpcTls = Number.NaN;
    assert.match(checkReport(s).join('\n'), /ratios\.ingestToGrpcTls = NaN is not a finite positive number/);
    assert.match(checkReport(s).join('\n'), /ratios\.ingestToGrpcTls has no source/);
    const t = sound();
    t.source = { secaggCommit: '', treeClean: true };
    assert.match(checkReport(t).join('\n'), /source must name the commit/);
  });

  it('finds a goal whose verdict or value disagrees with what it is judged on', () => {
    const r = sound();
    r.goals[0]!.met = true;
    assert.match(checkReport(r).join('\n'), /goal fold: met = true/);
    const s = sound();
    s.goals[0]!.value = 0.6;
    s.goals[0]!.met = true;
    assert.match(checkReport(s).join('\n'), /goal fold: value 0\.6 != /);
  });

  it('finds a ratio naming a figure the report does not hold', () => {
    const r = sound();
    r.ratioTable.push({ figure: 'p/coefficients/foldValuesPerSec', limit: 'plain.float32Sum', value: 1 });
    assert.match(checkReport(r).join('\n'), /unknown figure p\/coefficients\/foldValuesPerSec/);
  });
});

describe('parseBenchArgs', () => {
  it('has quick and default modes and passes options through', () => {
    const quick = parseBenchArgs(['--quick'])!;
    assert.equal(quick.mode, 'quick');
    assert.deepEqual(quick.encodings, ['slots', 'coefficients']);
    assert.equal(quick.baseline, true);
    const custom = parseBenchArgs(['-S', '3', '-L', '12345', '--encodings', 'coefficients', '--no-baseline', '--out', '/tmp/x.json'])!;
    assert.equal(custom.mode, 'default');
    assert.equal(custom.clients, 3);
    assert.equal(custom.length, 12_345);
    assert.deepEqual(custom.encodings, ['coefficients']);
    assert.equal(custom.baseline, false);
    assert.equal(custom.out, '/tmp/x.json');
    assert.equal(parseBenchArgs(['--help']), undefined);
  });

  it('has a 10M-value memory run writing one file per client count', () => {
    const memory = parseBenchArgs(['--memory-run', '--clients', '40'])!;
    assert.equal(memory.mode, 'memory');
    assert.equal(memory.length, 10_000_000);
    assert.deepEqual(memory.encodings, ['coefficients']);
    assert.equal(memory.baseline, false);
    assert.equal(memory.endToEnd, false);
    assert.match(memory.out, /bench\/results\/memory-10m-40clients\.json$/);
    assert.throws(() => parseBenchArgs(['--memory-run', '--quick']), /exclude each other/);
    assert.deepEqual(parseBenchArgs(['--gateway-env', 'GATEWAY_MAX_STAGED_BYTES=2147483648'])!.gatewayEnv, { GATEWAY_MAX_STAGED_BYTES: '2147483648' });
    assert.throws(() => parseBenchArgs(['--gateway-env', 'REDIS_URL=x']), /--gateway-env must be GATEWAY_NAME=value/);
  });

  it('refuses bad values with the option named', () => {
    assert.throws(() => parseBenchArgs(['--clients', '0']), /--clients must be a positive integer/);
    assert.throws(() => parseBenchArgs(['--encodings', 'slots,bfv']), /unknown encoding bfv/);
    assert.throws(() => parseBenchArgs(['--preset', 'n1024']), /unknown preset n1024/);
    assert.throws(() => parseBenchArgs(['--bogus']), /Unknown option/);
  });
});
