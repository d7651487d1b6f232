/**
 * CKKS parameter presets and the sizes that follow from them. Pure data: no SEAL.
 *
 * Sizes follow SEAL 4.1's serialization with compression `none` (REFERENCE.md
 * "SEAL 4.1 serialization"): a ciphertext is a 113-byte header followed by
 * `size · k · N` little-endian uint64 coefficients, so a fresh (size 2) one is
 * `113 + 16·k·N` bytes, where k counts the data-level primes only (SEAL keeps
 * the last prime of a multi-prime chain as the "special" key-switching prime).
 */
import { CkksError } from './errors.js';

/** Names of the supported parameter sets (all 128-bit secure per the HE standard, SEAL `tc128`). */
export type PresetName = 'n4096-q60p49' | 'n4096-q54' | 'n8192-q60x4' | 'n2048-q54';

/**
 * How values map to a plaintext:
 * - `slots`: SEAL's CKKSEncoder (canonical embedding), N/2 real values per ciphertext.
 * - `coefficients`: value i is written as round(x·scale) into plaintext coefficient i, N values per ciphertext.
 */
export type Encoding = 'slots' | 'coefficients';

/** Everything needed to encode, encrypt and decode for one round. Plain data. */
export interface CkksParams {
  preset: PresetName;
  encoding: Encoding;
  /** log2 of the CKKS scale; see {@link chooseScaleBits} for an overflow-safe choice. */
  scaleBits: number;
}

/** One parameter set. `coeffModulusBits` is the whole chain handed to `CoeffModulus.Create`. */
export interface Preset {
  name: PresetName;
  polyModulusDegree: number;
  coeffModulusBits: readonly number[];
  securityBits: 128;
}

/** The presets. Bytes per value (compression none): n4096-q54 32 (slots) / 16 (coefficients); n8192-q60x4 96 / 48. */
export const PRESETS: Readonly<Record<PresetName, Preset>> = Object.freeze({
  // The default. Ciphertexts carry one 60-bit prime (same bytes as n4096-q54:
  // 65,649 B, 16 B/value with coefficient encoding); the 49-bit special prime
  // (60 + 49 = 109 bits, the most N=4096 allows at tc128) exists only in the
  // public key. Public-key encryption happens at the key level and is then
  // divided by the special prime when SEAL switches to the data level, which
  // shrinks the fresh encryption noise: about 7 more bits of noise-flooding
  // margin than n4096-q54 (docs/PRIVACY.md), at the cost of a public key twice
  // as large.
  'n4096-q60p49': Object.freeze({ name: 'n4096-q60p49', polyModulusDegree: 4096, coeffModulusBits: Object.freeze([60, 49]), securityBits: 128 }),
  // Fewest bytes per value at 128-bit security: one 54-bit prime is the most
  // N=4096 allows at tc128 after noise (max 109 bits, but more primes cost
  // bytes without adding anything a sum needs: no multiplication, no rescale).
  'n4096-q54': Object.freeze({ name: 'n4096-q54', polyModulusDegree: 4096, coeffModulusBits: Object.freeze([54]), securityBits: 128 }),
  // The common tutorial / NVIDIA FLARE-like setup; a benchmark baseline only.
  'n8192-q60x4': Object.freeze({ name: 'n8192-q60x4', polyModulusDegree: 8192, coeffModulusBits: Object.freeze([60, 40, 40, 60]), securityBits: 128 }),
  // Small and fast, for unit tests (tc128 allows at most 54 bits at N=2048).
  'n2048-q54': Object.freeze({ name: 'n2048-q54', polyModulusDegree: 2048, coeffModulusBits: Object.freeze([54]), securityBits: 128 }),
} satisfies Record<PresetName, Preset>);

/** The default preset: the fewest bytes per value at 128-bit security, with the widest noise-flooding margin at that size. */
export const DEFAULT_PRESET: PresetName = 'n4096-q60p49';

/** Byte length of SEAL's ciphertext header up to the first coefficient (REFERENCE.md). */
export const CIPHERTEXT_DATA_OFFSET = 113;

/** True if `name` is one of the {@link PRESETS}. */
export function isPresetName(name: unknown): name is PresetName {
  return typeof name === 'string' && Object.hasOwn(PRESETS, name);
}

/** The preset called `name`, or a `CkksError('invalid_params')`. */
export function getPreset(name: PresetName): Preset {
  if (!isPresetName(name)) throw new CkksError('invalid_params', `unknown CKKS preset ${JSON.stringify(name)}`);
  return PRESETS[name];
}

/**
 * Number of primes a ciphertext carries: all but the special prime when the
 * chain has more than one (SEAL's data level), else the single prime.
 */
export function dataPrimeCount(preset: Preset): number {
  const n = preset.coeffModulusBits.length;
  return n > 1 ? n - 1 : 1;
}

/** Sum of the bit sizes of the data-level primes (SEAL's `total_coeff_modulus_bit_count` there). */
export function dataModulusBits(preset: Preset): number {
  let bits = 0;
  for (let i = 0; i < dataPrimeCount(preset); i++) bits += preset.coeffModulusBits[i]!;
  return bits;
}

/**
 * Largest scaleBits SEAL accepts: CKKSEncoder and the validity checks require
 * `floor(log2(scale)) + 1 < total data-level modulus bits`.
 */
export function maxScaleBits(preset: Preset): number {
  return dataModulusBits(preset) - 2;
}

/** Throws `CkksError('invalid_params')` unless `params` names a preset, an encoding and an integer scaleBits SEAL accepts. */
export function assertCkksParams(params: CkksParams): void {
  if (params === null || typeof params !== 'object') throw new CkksError('invalid_params', 'CKKS params must be an object');
  const preset = getPreset(params.preset);
  if (params.encoding !== 'slots' && params.encoding !== 'coefficients') {
    throw new CkksError('invalid_params', `unknown encoding ${JSON.stringify(params.encoding)} (expected "slots" or "coefficients")`);
  }
  const max = maxScaleBits(preset);
  if (!Number.isInteger(params.scaleBits) || params.scaleBits < 1 || params.scaleBits > max) {
    throw new CkksError('invalid_params', `scaleBits ${String(params.scaleBits)} must be an integer in [1, ${max}] for ${preset.name}`);
  }
}

/** Values carried by one ciphertext: N/2 for `slots`, N for `coefficients`. */
export function valuesPerCiphertext(params: CkksParams): number {
  assertCkksParams(params);
  const n = PRESETS[params.preset].polyModulusDegree;
  return params.encoding === 'slots' ? n / 2 : n;
}

/** Ciphertexts needed for a vector of `vectorLength` values: ceil(vectorLength / valuesPerCiphertext). */
export function ciphertextCount(params: CkksParams, vectorLength: number): number {
  if (!Number.isSafeInteger(vectorLength) || vectorLength < 0) {
    throw new CkksError('invalid_params', `vector length ${String(vectorLength)} must be a non-negative integer`);
  }
  return Math.ceil(vectorLength / valuesPerCiphertext(params));
}

/** Exact serialized size of one fresh ciphertext, compression none: 113 + 2·k·N·8 (65,649 for n4096-q54). */
export function ciphertextByteLength(params: CkksParams): number {
  assertCkksParams(params);
  const preset = PRESETS[params.preset];
  return CIPHERTEXT_DATA_OFFSET + 2 * dataPrimeCount(preset) * preset.polyModulusDegree * 8;
}
