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

/**
 * SEAL's bare public-key encrypt, for benchmarks: one plaintext encoded once
 * (CKKSEncoder at the engine's scale; the encoding does not change what
 * encrypt costs), then only `Encryptor.encrypt` per call — no range check, no
 * encode, no save. The floor under {@link CkksEngine}'s encrypt path.
 */
export function sealBareEncryptor(engine: CkksEngine, publicKey: Uint8Array): { encrypt(): void; dispose(): void } {
  const { seal, context } = sealInternals(engine);
  const pk = new seal.PublicKey();
  const encoder = new seal.CKKSEncoder(context);
  const plain = new seal.Plaintext();
  const ct = new seal.Ciphertext();
  let encryptor: InstanceType<typeof seal.Encryptor> | undefined;
  try {
    // node-seal takes plain Uint8Arrays only (not Buffers): a view of the same bytes.
    pk.loadFromArray(context, new Uint8Array(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength));
    encryptor = new seal.Encryptor(context, pk);
    const values = Float64Array.from({ length: encoder.slotCount() }, (_, i) => Math.sin(i) * 1e-3);
    encoder.encode(values, 2 ** engine.params.scaleBits, plain);
  } catch (e) {
    for (const o of [encryptor, ct, plain, encoder, pk]) o?.delete();
    throw e;
  }
  const live = encryptor;
  return {
    encrypt: () => live.encrypt(plain, ct),
    dispose() {
      for (const o of [live, ct, plain, encoder, pk]) o.delete();
    },
  };
}

/** A CKKS parameter set given by its numbers, for benchmark baselines that are not product presets. */
export interface SealParameterSpec {
  polyModulusDegree: number;
  /** The whole chain handed to CoeffModulus.Create (SEAL keeps the last prime as the special prime). */
  coeffModulusBits: readonly number[];
  scaleBits: number;
}

/**
 * A peer's CKKS setup reproduced with node-seal (e.g. NVIDIA FLARE's HE
 * defaults through TenSEAL: N 8192, [60, 40, 40], scale 2^40, symmetric
 * encryption), for `npm run bench`'s baseline: SEAL slot encoding and
 * secret-key (symmetric) encryption, serialized as a full ciphertext or in
 * SEAL's seeded form (c1 replaced by its PRNG seed), without compression or
 * with zstd; and SEAL's own load + add of what was serialized.
 * Not a product preset: @secagg/ckks never encrypts rounds with it.
 */
export async function sealParameterKit(spec: SealParameterSpec): Promise<{
  slotCount: number;
  encrypt(values: Float64Array, form: { seeded: boolean; compression: 'none' | 'zstd' }): Uint8Array;
  accumulator(first: Uint8Array): { add(bytes: Uint8Array): void; dispose(): void };
  dispose(): void;
}> {
  const { loadSeal } = await import('./seal-runtime.js');
  const seal = await loadSeal();
  const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
  const chain = seal.CoeffModulus.Create(spec.polyModulusDegree, Int32Array.from(spec.coeffModulusBits));
  parms.setPolyModulusDegree(spec.polyModulusDegree);
  parms.setCoeffModulus(chain);
  const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
  parms.delete();
  chain.delete();
  if (!context.parametersSet()) {
    context.delete();
    throw new Error(`SEAL rejects N ${spec.polyModulusDegree}, [${spec.coeffModulusBits.join(', ')}] at 128-bit security`);
  }
  const keygen = new seal.KeyGenerator(context);
  const secretKey = keygen.secretKey();
  const publicKey = keygen.createPublicKey();
  const encryptor = new seal.Encryptor(context, publicKey, secretKey);
  const encoder = new seal.CKKSEncoder(context);
  const evaluator = new seal.Evaluator(context);
  const plain = new seal.Plaintext();
  const ct = new seal.Ciphertext();
  const scale = 2 ** spec.scaleBits;
  const mode = (c: 'none' | 'zstd') => (c === 'zstd' ? seal.ComprModeType.zstd : seal.ComprModeType.none);
  return {
    slotCount: encoder.slotCount(),
    encrypt(values, form) {
      encoder.encode(values, scale, plain);
      if (form.seeded) {
        const serializable = encryptor.encryptSymmetricSerializable(plain);
        try {
          return serializable.saveToArray(mode(form.compression)) as Uint8Array;
        } finally {
          serializable.delete();
        }
      }
      encryptor.encryptSymmetric(plain, ct);
      return ct.saveToArray(mode(form.compression)) as Uint8Array;
    },
    accumulator(first) {
      const acc = new seal.Ciphertext();
      const tmp = new seal.Ciphertext();
      acc.loadFromArray(context, first);
      return {
        add(bytes) {
          tmp.loadFromArray(context, bytes);
          evaluator.addInplace(acc, tmp);
        },
        dispose() {
          acc.delete();
          tmp.delete();
        },
      };
    },
    dispose() {
      for (const o of [ct, plain, evaluator, encoder, encryptor, publicKey, secretKey, keygen, context]) o.delete();
    },
  };
}
