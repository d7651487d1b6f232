/**
 * The CKKS limits of one parameter set, on one thread: what node-seal itself
 * does per second, against which the client's and the aggregator's figures
 * are judged.
 *
 * (The encrypt limit is measured next to the client figure, with the
 * round's key: system/client-encrypt.ts.)
 *
 * - load+add: SEAL's own `Ciphertext.load` + `Evaluator.addInplace`, through
 *   the ckks package's benchmark helper `sealAccumulator` (its testing entry
 *   `@secagg/ckks/testing`, loaded on first use and reported unavailable if
 *   it cannot be).
 * - addCiphertextInto: the package's SEAL-free add on serialized bytes (what
 *   the aggregator runs).
 * - validate: validateCiphertext (what the gateway runs on every chunk).
 */
import { addCiphertextInto, CkksEngine, validateCiphertext, valuesPerCiphertext, type CkksParams } from '@secagg/ckks';
import { rateOf } from '../timing.js';

/** SEAL load+add accumulator of the ckks package's testing module. */
interface SealAccumulator {
  add(bytes: Uint8Array): void;
  dispose(): void;
}
type SealAccumulatorFactory = (engine: CkksEngine, first: Uint8Array) => SealAccumulator;

let factory: Promise<SealAccumulatorFactory | string> | undefined;

/** The ckks package's `sealAccumulator`, or why it cannot be had. */
function sealAccumulatorFactory(): Promise<SealAccumulatorFactory | string> {
  factory ??= (async () => {
    try {
      const testing = await import('@secagg/ckks/testing');
      return testing.sealAccumulator;
    } catch (error) {
      return `@secagg/ckks/testing cannot be loaded: ${(error as Error).message}`;
    }
  })();
  return factory;
}

/** Each figure once per trial. */
export interface SealLimits {
  /** Values per ciphertext of these parameters. */
  valuesPerCiphertext: number;
  ciphertextBytes: number;
  /** SEAL load + add, values/s; undefined when the SEAL hook is unavailable (see `sealLoadAddUnavailable`). */
  sealLoadAddValuesPerSec?: number[];
  sealLoadAddUnavailable?: string;
  addCiphertextIntoValuesPerSec: number[];
  validateMBps: number[];
}

function trialsOf(trials: number, measure: () => number): number[] {
  return Array.from({ length: trials }, measure);
}

/**
 * Measures the limits of `params`, each `trials` times for at least `minSeconds`. Throws
 * whatever CkksEngine throws for parameters it does not support (callers use
 * that to detect an unavailable encoding).
 */
export async function measureSealLimits(params: CkksParams, minSeconds: number, trials: number): Promise<SealLimits> {
  using engine = await CkksEngine.create(params);
  const keys = engine.generateKeyPair();
  using encryptor = engine.createEncryptor(keys.publicKey);
  const per = valuesPerCiphertext(params);
  const values = Float64Array.from({ length: per }, (_, i) => Math.sin(i) * 1e-3);

  const pool = Array.from({ length: 8 }, () => encryptor.encrypt(values));
  let next = 0;
  const acc = pool[0]!.slice();
  const addCiphertextIntoValuesPerSec = trialsOf(trials, () =>
    rateOf(() => {
      addCiphertextInto(engine.format, acc, pool[next++ % pool.length]!);
      return per;
    }, minSeconds),
  );

  const validateMBps = trialsOf(
    trials,
    () =>
      rateOf(() => {
        const verdict = validateCiphertext(engine.format, pool[next++ % pool.length]!);
        if (!verdict.ok) throw new Error(`a fresh ciphertext failed validation: ${verdict.reason}`);
        return engine.format.byteLength;
      }, minSeconds) / 1e6,
  );

  const limits: SealLimits = {
    valuesPerCiphertext: per,
    ciphertextBytes: engine.format.byteLength,
    addCiphertextIntoValuesPerSec,
    validateMBps,
  };
  const make = await sealAccumulatorFactory();
  if (typeof make === 'string') {
    limits.sealLoadAddUnavailable = make;
  } else {
    const sealAcc = make(engine, pool[0]!);
    try {
      limits.sealLoadAddValuesPerSec = trialsOf(trials, () =>
        rateOf(() => {
          sealAcc.add(pool[next++ % pool.length]!);
          return per;
        }, minSeconds),
      );
    } finally {
      sealAcc.dispose();
    }
  }
  return limits;
}
