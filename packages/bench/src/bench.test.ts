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
  'foldValuesPerSec',
  'foldMBps',
  'releaseSeconds',
  'e2eRoundSeconds',
  'e2eIngestMBps',
  'e2eFoldLagSeconds',
  'releasedMaxAbsDeviation',
  'redisUsedMemoryPeakBytes',
  'redisInputBytesPerValue',
  'peakRss.client',
  'peakRss.client-gateway',
  'peakRss.keyholder',
  'peakRss.aggregator-1',
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
    const args = ['--enable-source-maps', CLI, '--quick', '--clients', String(CLIENTS), '--length', String(LENGTH), '--limit-seconds', '0.2', '--out', out];
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
      ],
    );
    const slots = report.configurations[0]!;
    assert.equal(slots.available, true, slots.unavailableReason);
    for (const c of report.configurations) {
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
    for (const c of report.configurations.filter((x) => x.available)) {
      const bytes = c.ckks!.ciphertextBytes;
      const limitsOf = (figure: string) => report.ratios.filter((r) => r.figure === `${c.id}/${figure}`).map((r) => r.limit);
      assert.ok(limitsOf('clientEncryptValuesPerSec').includes(`seal.encrypt.${c.id}`));
      assert.ok(limitsOf('clientEncryptPoolValuesPerSecPerCore').includes(`seal.encrypt.${c.id}`));
      assert.ok(limitsOf('ingestMBps').includes(`grpc.tls.defaultWindow.${bytes}B`));
      assert.ok(limitsOf('ingestMBps').includes(`redis.set.shipped.${bytes}B.8inFlight`));
      assert.ok(limitsOf('foldMBps').includes(`redis.set.shipped.${bytes}B.8inFlight`));
      assert.ok(limitsOf('foldValuesPerSec').includes('plain.float32Sum'));
      assert.ok(limitsOf('foldValuesPerSec').includes(`js.addCiphertextInto.${c.id}`));
    }
    assert.ok(report.limits[`redis.set.noPersistence.${SYSTEM_BYTES}B.8inFlight`] !== undefined);
    assert.ok(report.limits[`redis.set.shipped.${SYSTEM_BYTES}B.${CLIENTS * 8}inFlight`] !== undefined);
    assert.ok(report.limits[`grpc.plaintext.defaultWindow.${SYSTEM_BYTES}B`] !== undefined);
    assert.ok(report.limits[`seal.encrypt.${SYSTEM}/slots`]!.samples!.length >= 1);
    const goals = report.goals.map((g) => g.id);
    for (const id of ['bytes-per-value', `ingest/${SYSTEM}/slots`, `client-encryption/${SYSTEM}/slots`, `fold/${SYSTEM}/slots`, `memory/${SYSTEM}/slots`]) {
      assert.ok(goals.includes(id), id);
    }
    // 5,000 values is not the memory goal's 10,000,000: reported, not judged.
    assert.equal(report.goals.find((g) => g.id === `memory/${SYSTEM}/slots`)!.met, undefined);
  });

  it('prints the markdown tables', () => {
    assert.match(stdout, /^\| limit \| best of trials \| trials min – max \|$/m);
    assert.ok(stdout.includes(`| figure | ${SYSTEM}/slots | ${SYSTEM}/coefficients | n8192-q60x4/slots (peer baseline) |\n`));
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
      limits: { 'plain.float32Sum': { value: 4e8, unit: 'values/s', description: 'sum', samples: [3e8, 4e8, 2e8] } },
      configurations: [
        {
          id: 'p/slots',
          role: 'system',
          preset: 'p',
          encoding: 'slots',
          available: true,
          figures: { foldValuesPerSec: { value: 1e8, unit: 'values/s', description: 'fold' } },
        },
      ],
      ratios: [{ figure: 'p/slots/foldValuesPerSec', limit: 'plain.float32Sum', value: 0.25 }],
      goals: [{ id: 'fold', description: 'fold', comparison: '>=', target: 0.5, judgedOn: 'p/slots/foldValuesPerSec ÷ plain.float32Sum', value: 0.25, met: false, note: '' }],
      notes: [],
    };
  }

  it('accepts a sound report', () => {
    assert.deepEqual(checkReport(sound()), []);
  });

  it('finds a ratio that is not figure ÷ limit', () => {
    const r = sound();
    r.ratios[0]!.value = 0.3;
    assert.match(checkReport(r).join('\n'), /ratio p\/slots\/foldValuesPerSec ÷ plain\.float32Sum = 0\.3, expected 0\.25/);
  });

  it('finds a non-finite figure and a limit that is not the best of its trials', () => {
    const r = sound();
    r.configurations[0]!.figures.foldValuesPerSec!.value = Number.NaN;
    r.limits['plain.float32Sum']!.samples = [1, 2, 3];
    const problems = checkReport(r).join('\n');
    assert.match(problems, /figure p\/slots\/foldValuesPerSec: value NaN is not finite/);
    assert.match(problems, /not the best of its samples/);
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
    r.ratios.push({ figure: 'p/coefficients/foldValuesPerSec', limit: 'plain.float32Sum', value: 1 });
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

  it('refuses bad values with the option named', () => {
    assert.throws(() => parseBenchArgs(['--clients', '0']), /--clients must be a positive integer/);
    assert.throws(() => parseBenchArgs(['--encodings', 'slots,bfv']), /unknown encoding bfv/);
    assert.throws(() => parseBenchArgs(['--preset', 'n1024']), /unknown preset n1024/);
    assert.throws(() => parseBenchArgs(['--bogus']), /Unknown option/);
  });
});
