/**
 * Peak RSS of one release in the keyholder's own code (handler, store, SEAL),
 * without gRPC: issue 5 item 2 (every process <= 512 MiB for a 10M-value round).
 *
 *   node tools/bench/dist/keyholder-release-memory.js [--length 10000000] [--preset n4096-q60p49]
 *
 * The parent creates a round key in a fresh data dir (real KeyStore, real
 * SEAL) and encrypts a sum of clipped updates into a file; a child process
 * then runs `releaseRound` on those ciphertexts, read one at a time as gRPC
 * would hand them over, and reports VmHWM (/proc/self/status) after SEAL is
 * loaded (baseline) and after the release; then it resets the peak
 * (/proc/self/clear_refs) and asks again, which returns the stored release
 * (a retry), and reports that peak too. The parent's memory is not measured. A benchmark, not a test: nothing here asserts a figure.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { create, fromBinary } from '@bufbuild/protobuf';
import { CkksEngine, DEFAULT_PRESET, encryptVector } from '@secagg/ckks';
import { KeyholderHarness, ONE_CONTRIBUTOR_DIGEST, createRoundKey, releaseRound, type KeyholderContext } from '@secagg/keyholder/testing';
import { bytesToFloat64, toCkksParams } from '@secagg/protocol';
import { CkksParametersSchema, CreateRoundKeyRequestSchema, Encoding, ReleaseRoundRequestSchema, RoundConfigSchema, type ReleaseRoundRequest } from '@secagg/proto';

const ROUND = 'memory';
const CLIENTS = 2;
/** Two clients is below the keyholder's default floor (3): this benchmark measures memory, not the floor. */
const KEYHOLDER_CONFIG = { minClientsFloor: CLIENTS };

/** The true sum at index i: L2 norm 0.9 * CLIENTS * C = 1.8 for any length (C = 1). */
function expectedAt(i: number, length: number): number {
  return (CLIENTS * 0.9 * Math.SQRT2 * Math.sin(i + 0.5)) / Math.sqrt(length);
}

function peakRssBytes(): number {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

async function prepare(dir: string, kek: string, length: number, preset: string): Promise<{ ciphertextCount: number; sigma: number }> {
  const keyholder = KeyholderHarness.open({ dataDir: dir, kek, config: KEYHOLDER_CONFIG });
  const deps = keyholder.deps;
  let key;
  for (let z = 1; ; z *= 2) {
    try {
      key = await createRoundKey(
        create(CreateRoundKeyRequestSchema, {
          roundId: ROUND,
          config: create(RoundConfigSchema, {
            vectorLength: length,
            minClients: CLIENTS,
            maxClients: CLIENTS,
            deadlineUnixMs: BigInt(Date.now() + 3_600_000),
            clipNorm: 1,
            noiseMultiplier: z,
            preset,
            encoding: Encoding.COEFFICIENTS,
            privacyGroup: 'memory',
          }),
        }),
        deps,
      );
      break;
    } catch (error) {
      if (z >= 1024 || !/flooding margin/.test((error as Error).message)) throw error;
    }
  }
  const params = toCkksParams(key.ckks!);
  const total = new Float64Array(length);
  for (let i = 0; i < length; i++) total[i] = expectedAt(i, length);
  using engine = await CkksEngine.create(params);
  using encryptor = engine.createEncryptor(key.publicKey);
  const fd = openSync(join(dir, 'ciphertexts.bin'), 'w');
  let count = 0;
  try {
    for (const ct of encryptVector(encryptor, params, total)) {
      writeSync(fd, ct);
      count++;
    }
  } finally {
    closeSync(fd);
  }
  await keyholder.close();
  writeFileSync(join(dir, 'byte-length'), String(engine.format.byteLength));
  return { ciphertextCount: count, sigma: key.privacy!.noiseSigma };
}

/** The aggregator's side: header, then each ciphertext in a fresh Buffer (as grpc-js delivers them). */
async function* requests(dir: string, count: number, byteLength: number): AsyncGenerator<ReleaseRoundRequest> {
  yield create(ReleaseRoundRequestSchema, {
    frame: {
      case: 'header',
      value: { roundId: ROUND, contributionCount: CLIENTS, ciphertextCount: count, contributorsSha256: ONE_CONTRIBUTOR_DIGEST },
    },
  });
  const file = await open(join(dir, 'ciphertexts.bin'), 'r');
  try {
    for (let index = 0; index < count; index++) {
      const ciphertext = Buffer.allocUnsafe(byteLength);
      await file.read(ciphertext, 0, byteLength, index * byteLength);
      yield create(ReleaseRoundRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } });
    }
  } finally {
    await file.close();
  }
}

/** Runs one ReleaseRound and checks the values against the true sum: the noise's std in sigmas (about 1). */
async function releaseOnce(deps: KeyholderContext, frames: AsyncIterable<ReleaseRoundRequest>, length: number): Promise<{ received: number; noiseStdOverSigma: number }> {
  let sigma = NaN;
  let received = 0;
  let sumSquaredError = 0;
  for await (const response of releaseRound(frames, deps)) {
    if (response.frame.case === 'header') sigma = response.frame.value.noiseSigma;
    if (response.frame.case !== 'values') continue;
    const values = bytesToFloat64(response.frame.value.sumF64le);
    const offset = Number(response.frame.value.offset);
    for (let i = 0; i < values.length; i++) sumSquaredError += (values[i]! - expectedAt(offset + i, length)) ** 2;
    received += values.length;
  }
  return { received, noiseStdOverSigma: Math.sqrt(sumSquaredError / received) / sigma };
}

async function release(dir: string, kek: string, length: number, count: number): Promise<void> {
  const keyholder = KeyholderHarness.open({ dataDir: dir, kek, config: KEYHOLDER_CONFIG });
  const deps = keyholder.deps;
  const byteLength = Number(readFileSync(join(dir, 'byte-length'), 'utf8'));
  const key = deps.store.getRoundKey(ROUND)!;
  await deps.engines.get(toCkksParams(fromBinary(CkksParametersSchema, key.ckks)));
  const baseline = peakRssBytes();
  const first = await releaseOnce(deps, requests(dir, count, byteLength), length);
  const peak = peakRssBytes();
  // Reset VmHWM to the current RSS (Linux >= 4.0), then the retry: the stored release, no ciphertext read.
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBeforeReplay = peakRssBytes();
  const replay = await releaseOnce(deps, requests(dir, 0, byteLength), length);
  const replayPeak = peakRssBytes();
  await keyholder.close();
  process.stdout.write(
    JSON.stringify({
      baselinePeakRssBytes: baseline,
      releasePeakRssBytes: peak,
      ...first,
      rssBeforeReplayBytes: rssBeforeReplay,
      replayPeakRssBytes: replayPeak,
      replayIdentical: replay.received === first.received && replay.noiseStdOverSigma === first.noiseStdOverSigma,
    }) + '\n',
  );
}

const { values: args } = parseArgs({
  options: {
    length: { type: 'string', default: '10000000' },
    preset: { type: 'string', default: DEFAULT_PRESET },
    child: { type: 'string' },
    count: { type: 'string' },
    kek: { type: 'string' },
  },
});
const length = Number(args.length);
if (args.child) {
  await release(args.child, args.kek!, length, Number(args.count));
} else {
  const dir = mkdtempSync(join(tmpdir(), 'keyholder-release-memory-'));
  try {
    const kek = randomBytes(32).toString('base64');
    const { ciphertextCount, sigma } = await prepare(dir, kek, length, args.preset);
    process.stderr.write(`prepared ${ciphertextCount} ciphertexts of ${length} values (sigma ${sigma}); releasing in a child process\n`);
    const child = spawnSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', dir, '--kek', kek, '--length', String(length), '--count', String(ciphertextCount)],
      { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
    );
    if (child.status !== 0) throw new Error(`release child exited with ${child.status}`);
    const result = JSON.parse(child.stdout) as Record<string, number>;
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    process.stdout.write(
      JSON.stringify({
        length,
        ciphertextCount,
        ...result,
        baselinePeakRssMiB: mib(result.baselinePeakRssBytes!),
        releasePeakRssMiB: mib(result.releasePeakRssBytes!),
        replayPeakRssMiB: mib(result.replayPeakRssBytes!),
      }) + '\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
