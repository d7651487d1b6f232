/**
 * Codec benchmark: bytes per value, throughput and error of every preset ×
 * encoding, each throughput also as a ratio to a limit measured in the same
 * run (a plain Float64Array sum), since absolute figures drift on shared
 * machines (REFERENCE.md). Not run by the tests; run it with
 * `node tools/bench/dist/codec-bench.js [clients]` or call {@link runCodecBench}.
 */
import { pathToFileURL } from 'node:url';
import {
  addCiphertextInto,
  chooseScaleBits,
  CkksEngine,
  PRESETS,
  validateCiphertext,
  valuesPerCiphertext,
  type CkksParams,
  type Encoding,
  type PresetName,
} from '@secagg/ckks';
import { maxAbsDiff, sealAccumulator, seededRandom } from '@secagg/ckks/testing';

export interface CodecBenchRow {
  preset: PresetName;
  encoding: Encoding;
  scaleBits: number;
  bytesPerCiphertext: number;
  valuesPerCiphertext: number;
  bytesPerValue: number;
  /** Client: range check + encode + encrypt + save. */
  encryptValuesPerSec: number;
  validateMicrosPerCiphertext: number;
  /** Aggregator, this package: addCiphertextInto on validated bytes. */
  addValuesPerSec: number;
  /** Aggregator, SEAL: load (with SEAL's own validity check) + Evaluator.add. */
  sealLoadAddValuesPerSec: number;
  decryptMillisPerCiphertext: number;
  /** Max |decoded sum - true sum| over one ciphertext's values, `clients` independent encryptions at ±clipNorm. */
  maxAbsError: number;
  clients: number;
  clipNorm: number;
}

export interface CodecBench {
  /** The limit: plain Float64Array summation, values/s. */
  plainSumValuesPerSec: number;
  rows: CodecBenchRow[];
}

/** Runs `fn` repeatedly for at least `minMs` and returns seconds per call. */
function timePerCall(fn: () => void, minMs = 250): number {
  fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  do {
    fn();
    calls++;
    now = performance.now();
  } while (now - start < minMs);
  return (now - start) / 1000 / calls;
}

function plainSumRate(): number {
  const a = new Float64Array(1 << 16);
  const b = new Float64Array(1 << 16).fill(1);
  const s = timePerCall(() => {
    for (let i = 0; i < a.length; i++) a[i]! += b[i]!;
  });
  return a.length / s;
}

/** Measures every preset × encoding. `clients` encryptions are summed for the error figure. */
export async function runCodecBench(options: { clients?: number; clipNorm?: number; presets?: PresetName[] } = {}): Promise<CodecBench> {
  const clients = options.clients ?? 1000;
  const clipNorm = options.clipNorm ?? 1;
  const presets = options.presets ?? (Object.keys(PRESETS) as PresetName[]);
  const rows: CodecBenchRow[] = [];
  const plainSumValuesPerSec = plainSumRate();
  for (const preset of presets) {
    for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
      const scaleBits = chooseScaleBits(preset, encoding, clients, clipNorm, { minPrecisionBits: 0 });
      const params: CkksParams = { preset, encoding, scaleBits };
      using engine = await CkksEngine.create(params);
      const keys = engine.generateKeyPair();
      using enc = engine.createEncryptor(keys.publicKey);
      using dec = engine.createDecryptor(keys.secretKey);
      const per = valuesPerCiphertext(params);
      const rand = seededRandom(42);
      const x = Float32Array.from({ length: per }, () => (rand() * 2 - 1) * clipNorm);
      const encryptS = timePerCall(() => enc.encrypt(x));

      // Error: `clients` independent encryptions, one coordinate pinned at ±clipNorm each.
      const sum = new Float64Array(per);
      let acc: Uint8Array | undefined;
      const pool: Uint8Array[] = [];
      for (let c = 0; c < clients; c++) {
        const v = Float64Array.from({ length: per }, () => (rand() * 2 - 1) * clipNorm);
        v[c % per] = c % 2 === 0 ? clipNorm : -clipNorm;
        for (let i = 0; i < per; i++) sum[i]! += v[i]!;
        const ct = enc.encrypt(v);
        if (pool.length < 16) pool.push(ct);
        if (acc === undefined) acc = ct.slice();
        else addCiphertextInto(engine.format, acc, ct);
      }
      const maxAbsError = maxAbsDiff(dec.decrypt(acc!), sum);

      let next = 0;
      const validateS = timePerCall(() => {
        validateCiphertext(engine.format, pool[next++ % pool.length]!);
      });
      const target = pool[0]!.slice();
      const addS = timePerCall(() => addCiphertextInto(engine.format, target, pool[next++ % pool.length]!));
      const sealAcc = sealAccumulator(engine, pool[0]!);
      const sealS = timePerCall(() => sealAcc.add(pool[next++ % pool.length]!));
      sealAcc.dispose();
      const decryptS = timePerCall(() => dec.decrypt(pool[next++ % pool.length]!));

      rows.push({
        preset,
        encoding,
        scaleBits,
        bytesPerCiphertext: engine.format.byteLength,
        valuesPerCiphertext: per,
        bytesPerValue: engine.format.byteLength / per,
        encryptValuesPerSec: per / encryptS,
        validateMicrosPerCiphertext: validateS * 1e6,
        addValuesPerSec: per / addS,
        sealLoadAddValuesPerSec: per / sealS,
        decryptMillisPerCiphertext: decryptS * 1e3,
        maxAbsError,
        clients,
        clipNorm,
      });
    }
  }
  return { plainSumValuesPerSec, rows };
}

/** A markdown table of {@link runCodecBench}'s result. */
export function formatCodecBench(bench: CodecBench): string {
  const M = (v: number): string => `${(v / 1e6).toFixed(2)} M`;
  const lines = [
    `plain Float64Array sum (limit): ${M(bench.plainSumValuesPerSec)} values/s`,
    '',
    '| preset | encoding | scale | B/ct | values/ct | B/value | encrypt values/s | validate µs/ct | add values/s (÷ limit) | SEAL load+add values/s | decrypt ms/ct | max abs error (K clients, C) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of bench.rows) {
    lines.push(
      `| ${r.preset} | ${r.encoding} | 2^${r.scaleBits} | ${r.bytesPerCiphertext} | ${r.valuesPerCiphertext} | ${r.bytesPerValue.toFixed(2)} | ` +
        `${M(r.encryptValuesPerSec)} | ${r.validateMicrosPerCiphertext.toFixed(1)} | ${M(r.addValuesPerSec)} (${(r.addValuesPerSec / bench.plainSumValuesPerSec).toFixed(3)}) | ` +
        `${M(r.sealLoadAddValuesPerSec)} | ${r.decryptMillisPerCiphertext.toFixed(2)} | ${r.maxAbsError.toExponential(2)} (${r.clients}, ${r.clipNorm}) |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const clients = Number(process.argv[2] ?? 1000);
  console.log(formatCodecBench(await runCodecBench({ clients })));
}
