/**
 * The client's side of a submission, as the SDK does it
 * (SecaggClient.submitUpdate), everything but the network: clip to the
 * round's norm, create the engine for the round's parameters, load the
 * round's public key, and encrypt chunk by chunk — on the calling thread
 * (`encryptionThreads: 0`, encryptVector) or, the SDK's default, on an
 * EncryptionPool of worker threads.
 */
import { createHash } from 'node:crypto';
import { CkksEngine, encryptVector, valuesPerCiphertext, type CkksParams } from '@secagg/ckks';
import { clipToNorm, type EncryptionPool } from '@secagg/sdk';
import { ckksTesting } from '../limits/seal-limits.js';
import { rateOf, rateOfAsync } from '../timing.js';

/** Clips and encrypts `update` the SDK's way; `onCiphertext` sees each ciphertext in order. */
export async function encryptLikeSdk(
  params: CkksParams,
  publicKey: Uint8Array,
  update: ArrayLike<number>,
  clipNorm: number,
  onCiphertext: (ciphertext: Uint8Array) => void,
): Promise<void> {
  const clip = clipToNorm(update, clipNorm);
  using engine = await CkksEngine.create(params);
  using encryptor = engine.createEncryptor(publicKey);
  for (const ciphertext of encryptVector(encryptor, params, clip.values)) onCiphertext(ciphertext);
}

/**
 * Values/s of {@link encryptLikeSdk} on one thread, repeated for at least
 * `minSeconds`, after a warm-up on the first few ciphertexts' worth of values
 * (enough for the JIT; a whole long vector would only cost time).
 */
export async function measureSdkEncryptRate(
  params: CkksParams,
  publicKey: Uint8Array,
  update: Float32Array,
  clipNorm: number,
  minSeconds: number,
): Promise<number> {
  await encryptLikeSdk(params, publicKey, update.subarray(0, 16 * 4096), clipNorm, () => {});
  return rateOfAsync(
    async () => {
      await encryptLikeSdk(params, publicKey, update, clipNorm, () => {});
      return update.length;
    },
    minSeconds,
    false,
  );
}

/**
 * Values/s of the SDK's default path: clip, then `pool.encrypt` (chunks
 * copied to the pool's worker threads, results in order), consumed as the
 * upload would. The pool is started (threads up, SEAL loaded) beforehand.
 */
export async function measureSdkPoolEncryptRate(
  pool: EncryptionPool,
  params: CkksParams,
  publicKey: Uint8Array,
  update: Float32Array,
  clipNorm: number,
  minSeconds: number,
): Promise<number> {
  const run = async (values: Float32Array): Promise<number> => {
    const clip = clipToNorm(values, clipNorm);
    for await (const ciphertext of pool.encrypt(params, publicKey, clip.values)) void ciphertext;
    return values.length;
  };
  await run(update.subarray(0, 16 * 4096 * pool.threads)); // every worker loads SEAL and the key
  return rateOfAsync(() => run(update), minSeconds, false);
}

/**
 * SEAL's bare public-key encrypt (`Encryptor.encrypt` of one plaintext
 * encoded once: no range check, no encode, no save), counted in this
 * encoding's values per ciphertext: the floor under the engine path. Undefined
 * with the reason when the ckks testing module is unavailable.
 */
export async function measureBareSealEncryptRate(params: CkksParams, publicKey: Uint8Array, minSeconds: number): Promise<number | string> {
  const kit = await ckksTesting();
  if (typeof kit === 'string') return kit;
  using engine = await CkksEngine.create(params);
  const bare = kit.sealBareEncryptor(engine, publicKey);
  try {
    const per = valuesPerCiphertext(params);
    return rateOf(() => {
      bare.encrypt();
      return per;
    }, minSeconds);
  } finally {
    bare.dispose();
  }
}

/**
 * The limit the SDK path is judged against: `CkksEngine` encrypt of one
 * ciphertext's worth of values in a tight loop (range check, encode, SEAL
 * encrypt, save), one thread, same parameters and key — no clipping, no
 * slicing, no engine set-up.
 */
export async function measureRawEncryptRate(params: CkksParams, publicKey: Uint8Array, minSeconds: number): Promise<number> {
  using engine = await CkksEngine.create(params);
  using encryptor = engine.createEncryptor(publicKey);
  const per = valuesPerCiphertext(params);
  const values = Float64Array.from({ length: per }, (_, i) => Math.sin(i) * 1e-3);
  return rateOf(() => {
    encryptor.encrypt(values);
    return per;
  }, minSeconds);
}

/** One encrypted update held in memory, with the trailer digest. */
export async function encryptUpdate(
  params: CkksParams,
  publicKey: Uint8Array,
  update: ArrayLike<number>,
  clipNorm: number,
): Promise<{ ciphertexts: Uint8Array[]; sha256: Uint8Array; bytes: number }> {
  const ciphertexts: Uint8Array[] = [];
  const digest = createHash('sha256');
  let bytes = 0;
  await encryptLikeSdk(params, publicKey, update, clipNorm, (ct) => {
    ciphertexts.push(ct);
    digest.update(ct);
    bytes += ct.byteLength;
  });
  return { ciphertexts, sha256: digest.digest(), bytes };
}
