/**
 * Test and benchmark helpers that call SEAL directly, exported as
 * `@secagg/ckks/testing` for tests and benchmarks only (never from the main
 * entry: services reach SEAL through `CkksEngine` alone): SEAL's own
 * Evaluator.add, to compare {@link addCiphertextInto} against, and raw loads,
 * to prove validated bytes never make SEAL throw.
 */
import type { CkksEngine } from './engine.js';
import { sealInternals } from './engine.js';

/** SEAL's Evaluator.add on two serialized ciphertexts (load both, add, save). */
export function sealAdd(engine: CkksEngine, a: Uint8Array, b: Uint8Array): Uint8Array {
  const { seal, context } = sealInternals(engine);
  const ev = new seal.Evaluator(context);
  const x = new seal.Ciphertext();
  const y = new seal.Ciphertext();
  try {
    x.loadFromArray(context, a);
    y.loadFromArray(context, b);
    ev.addInplace(x, y);
    return x.saveToArray(seal.ComprModeType.none) as Uint8Array;
  } finally {
    x.delete();
    y.delete();
    ev.delete();
  }
}

/** A reusable SEAL load+add accumulator, for benchmarks: acc += load(bytes). */
export function sealAccumulator(engine: CkksEngine, first: Uint8Array): { add(bytes: Uint8Array): void; save(): Uint8Array; dispose(): void } {
  const { seal, context } = sealInternals(engine);
  const ev = new seal.Evaluator(context);
  const acc = new seal.Ciphertext();
  const tmp = new seal.Ciphertext();
  acc.loadFromArray(context, first);
  return {
    add(bytes) {
      tmp.loadFromArray(context, bytes);
      ev.addInplace(acc, tmp);
    },
    save: () => acc.saveToArray(seal.ComprModeType.none) as Uint8Array,
    dispose() {
      acc.delete();
      tmp.delete();
      ev.delete();
    },
  };
}

/** Loads `bytes` as a SEAL Ciphertext and frees it; throws whatever SEAL throws. */
export function sealLoadCiphertext(engine: CkksEngine, bytes: Uint8Array): void {
  const { seal, context } = sealInternals(engine);
  const ct = new seal.Ciphertext();
  try {
    ct.loadFromArray(context, bytes);
  } finally {
    ct.delete();
  }
}

/** Max |a[i] - b[i]| over the first `count` entries. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, count = Math.min(a.length, b.length)): number {
  let m = 0;
  for (let i = 0; i < count; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Deterministic pseudo-random numbers (mulberry32), so known-answer tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
