/**
 * The CKKS limits of one parameter set, on one thread: what node-seal itself
 * does per second, against which the client's and the aggregator's figures
 * are judged.
 *
 * (The encrypt limit is measured next to the client figure, with the
 * round's key: system/client-encrypt.ts.)
 *
 * - load+add: SEAL's own `Ciphertext.load` + `Evaluator.addInplace` over a
 *   working set larger than the CPU caches ({@link LOAD_ADD_WORKING_SET_BYTES}),
 *   through the ckks package's benchmark helper `sealAccumulator` (its testing
 *   entry `@secagg/ckks/testing`, loaded on first use and reported unavailable
 *   if it cannot be).
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

/** What the benchmark uses of `@secagg/ckks/testing`. */
export interface CkksTesting {
  sealAccumulator(engine: CkksEngine, first: Uint8Array): SealAccumulator;
  sealBareEncryptor(engine: CkksEngine, publicKey: Uint8Array): { encrypt(): void; dispose(): void };
  sealParameterKit(spec: { polyModulusDegree: number; coeffModulusBits: readonly number[]; scaleBits: number }): Promise<{
    slotCount: number;
    encrypt(values: Float64Array, form: { seeded: boolean; compression: 'none' | 'zstd' }): Uint8Array;
    accumulator(first: Uint8Array): SealAccumulator;
    dispose(): void;
  }>;
}

let testing: Promise<CkksTesting | string> | undefined;

/**
 * The ckks package's testing entry `@secagg/ckks/testing` (SEAL called
 * directly: load+add, bare encrypt, parameter sets that are not presets),
 * loaded on first use; or why it cannot be had.
 */
export function ckksTesting(): Promise<CkksTesting | string> {
  testing ??= (async () => {
    try {
      const module = (await import('@secagg/ckks/testing')) as Partial<CkksTesting>;
      for (const name of ['sealAccumulator', 'sealBareEncryptor', 'sealParameterKit'] as const) {
        if (typeof module[name] !== 'function') return `@secagg/ckks/testing has no ${name}`;
      }
      return module as CkksTesting;
    } catch (error) {
      return `@secagg/ckks/testing cannot be loaded: ${(error as Error).message}`;
    }
  })();
  return testing;
}

/**
 * Bytes of ciphertexts the load+add and add limits cycle through: larger than
 * any CPU cache, as the aggregator's reads of update objects are, so the limit
 * pays for memory traffic like the fold does (a few ciphertexts in L2 would
 * flatter it).
 */
export const LOAD_ADD_WORKING_SET_BYTES = 64 * 1024 * 1024;

/** SEAL load+add kept ready, so its trials can be interleaved with the folds judged against it. */
export interface LoadAddSession {
  /** Values/s of one trial of at least `minSeconds`. */
  trial(minSeconds: number): number;
  dispose(): void;
}

/** Each figure once per trial. */
export interface SealLimits {
  /** Values per ciphertext of these parameters. */
  valuesPerCiphertext: number;
  ciphertextBytes: number;
  /** SEAL load + add, values/s; undefined when the SEAL hook is unavailable (see `sealLoadAddUnavailable`). */
  sealLoadAddValuesPerSec?: number[];
  sealLoadAddUnavailable?: string;
  /** For more load+add trials later (undefined when unavailable); the caller disposes it. */
  loadAdd?: LoadAddSession;
  /** Ciphertexts (distinct copies) the add limits cycle through. */
  workingSetCiphertexts: number;
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

  // Eight fresh encryptions, copied until the pool exceeds the CPU caches: copies in distinct memory cost the
  // same cache misses as distinct ciphertexts, without encrypting 64 MiB.
  const fresh = Array.from({ length: 8 }, () => encryptor.encrypt(values));
  const workingSetCiphertexts = Math.max(fresh.length, Math.ceil(LOAD_ADD_WORKING_SET_BYTES / engine.format.byteLength));
  const pool = Array.from({ length: workingSetCiphertexts }, (_, i) => fresh[i % fresh.length]!.slice());
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
    workingSetCiphertexts,
  };
  const kit = await ckksTesting();
  if (typeof kit === 'string') {
    limits.sealLoadAddUnavailable = kit;
  } else {
    // The session outlives this function (and so does the engine it uses): a second engine of its own.
    const sessionEngine = await CkksEngine.create(params);
    const sealAcc = kit.sealAccumulator(sessionEngine, pool[0]!);
    const session: LoadAddSession = {
      trial: (seconds) =>
        rateOf(() => {
          sealAcc.add(pool[next++ % pool.length]!);
          return per;
        }, seconds),
      dispose() {
        sealAcc.dispose();
        sessionEngine[Symbol.dispose]();
      },
    };
    limits.sealLoadAddValuesPerSec = trialsOf(trials, () => session.trial(minSeconds));
    limits.loadAdd = session;
  }
  return limits;
}
