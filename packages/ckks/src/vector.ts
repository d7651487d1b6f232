/**
 * Whole vectors ↔ sequences of ciphertexts. Chunk c holds values
 * [c·V, (c+1)·V) with V = valuesPerCiphertext(params); the last chunk is
 * zero-padded (encrypting zeros costs nothing extra and keeps every
 * ciphertext the same size).
 */
import type { CkksDecryptor, CkksEncryptor } from './engine.js';
import { CkksError } from './errors.js';
import { ciphertextCount, valuesPerCiphertext } from './presets.js';
import type { CkksParams } from './presets.js';

/** Encrypts `values` chunk by chunk: yields ciphertextCount(params, values.length) ciphertexts, in order. Lazy: one chunk in memory at a time. */
export function* encryptVector(enc: CkksEncryptor, params: CkksParams, values: Float32Array | Float64Array): Generator<Uint8Array> {
  const per = valuesPerCiphertext(params);
  const count = ciphertextCount(params, values.length);
  for (let c = 0; c < count; c++) {
    yield enc.encrypt(values.subarray(c * per, Math.min(values.length, (c + 1) * per)));
  }
}

/**
 * Decrypts a vector of `length` values from its ciphertexts (in chunk order),
 * dropping the padding of the last chunk.
 */
export function decryptVector(dec: CkksDecryptor, params: CkksParams, ciphertexts: Iterable<Uint8Array>, length: number): Float64Array {
  const per = valuesPerCiphertext(params);
  const count = ciphertextCount(params, length);
  const out = new Float64Array(length);
  let c = 0;
  for (const ct of ciphertexts) {
    if (c >= count) throw new CkksError('invalid_params', `more than ${count} ciphertexts for ${length} values`);
    const values = dec.decrypt(ct);
    const start = c * per;
    out.set(values.subarray(0, Math.min(per, length - start)), start);
    c++;
  }
  if (c !== count) throw new CkksError('invalid_params', `${c} ciphertexts, expected ${count} for ${length} values`);
  return out;
}
