/**
 * Overflow safety (DESIGN.md §4 "No overflow"): CKKS wraps silently when a
 * decrypted coefficient leaves (-q/2, q/2). Pure arithmetic, no SEAL.
 *
 * ## Wrap bound
 *
 * A sum of K fresh ciphertexts decrypts to Σ(m_k + e_k) where, per coefficient:
 * - slots: m = round(scale · IDFT(z)); every coefficient is an average
 *   (2/N)·Σ Re(z_j ζ_j^-i) of the N/2 slot values, so |m_i| ≤ scale·max|z_j|:
 *   the canonical embedding does not expand the per-coordinate bound (an
 *   all-equal vector attains it, at coefficient 0).
 * - coefficients: m_i = round(scale · x_i), |m_i| ≤ scale·max|x_i| + 1/2.
 * - encryption noise (SEAL public-key encryption: e = -e_pk·u + e1 + e2·s with
 *   u, s ternary and e_pk, e1, e2 centred binomial in [-21, 21], or clipped
 *   Gaussian ≤ 19.2): |e_i| ≤ 21·(2N+1) in the worst case. Multi-prime chains
 *   encrypt one level up and divide by the special prime, which adds at most
 *   (N+1)/2, still within the bound.
 * So nothing wraps if K·(C·scale·(1+2^-40) + 21·(2N+1) + 1) < q/2·(1-2^-40),
 * the 2^-40 terms covering the encoder's floating-point FFT error and float
 * rounding of this computation. q is the product of the data-level primes for
 * `slots`; for `coefficients` it is the largest data-level prime, because the
 * decoder centres the residues of that prime alone (no multi-precision CRT),
 * and each value's round(x·scale) must also be an exact double (≤ 2^53 - 1).
 *
 * ## Error estimate
 *
 * Per encryption, a coefficient of e has variance ≈ 14N (two ternary products
 * of N·2/3 terms of variance 10.5); a slot, being e(ζ), has variance of its real
 * part ≈ 7N². Sums of K add variances. The estimate is TAIL·σ/scale plus
 * double-precision rounding, with TAIL = 8 for coefficients (Gaussian, max
 * over N) and 16 for slots (products of Gaussians have exponential tails,
 * and the fixed key makes some slots noisier). It is a high-probability
 * estimate from this model, not a guarantee; measured maxima are 3–5× lower.
 */
import { CkksError } from './errors.js';
import { assertCkksParams, getPreset, maxScaleBits, PRESETS } from './presets.js';
import type { CkksParams, Encoding, Preset, PresetName } from './presets.js';
import { SEAL_CONSTANTS } from './seal-constants.js';

/** Largest |noise| coefficient of one fresh encryption, per the bound above. */
export function encryptionNoiseBound(polyModulusDegree: number): number {
  return 21 * (2 * polyModulusDegree + 1);
}

const REL = 2 ** -40;

function wrapHalfModulus(preset: Preset, encoding: Encoding): number {
  const primes = SEAL_CONSTANTS[preset.name].dataPrimes.map(BigInt);
  let q: bigint;
  if (encoding === 'slots') q = primes.reduce((a, b) => a * b, 1n);
  else q = primes.reduce((a, b) => (b > a ? b : a), 0n);
  return (Number(q) / 2) * (1 - REL);
}

function assertSummands(summands: number): void {
  if (!Number.isSafeInteger(summands) || summands < 1) {
    throw new CkksError('invalid_params', `number of summands ${String(summands)} must be a positive integer`);
  }
}

/**
 * Largest M such that a sum of `summands` fresh ciphertexts (default 1),
 * each encrypting values with |x| ≤ M, decodes without wrapping. With
 * `summands` = 1 it is the largest |value| an encryptor accepts. 0 if none.
 */
export function maxRepresentable(params: CkksParams, summands = 1): number {
  assertCkksParams(params);
  assertSummands(summands);
  const preset = PRESETS[params.preset];
  const scale = 2 ** params.scaleBits;
  const perSummand = wrapHalfModulus(preset, params.encoding) / summands - encryptionNoiseBound(preset.polyModulusDegree) - 1;
  let m = perSummand / (scale * (1 + REL));
  if (params.encoding === 'coefficients') m = Math.min(m, Number.MAX_SAFE_INTEGER / scale);
  return m > 0 ? m : 0;
}

/**
 * High-probability estimate of the largest absolute error of any value of a
 * decoded sum of `summands` ciphertexts whose values are bounded by
 * `clipNorm` (see the module comment for the model).
 */
export function estimateMaxError(params: CkksParams, summands: number, clipNorm: number): number {
  assertCkksParams(params);
  assertSummands(summands);
  const n = PRESETS[params.preset].polyModulusDegree;
  const slots = params.encoding === 'slots';
  const variance = slots ? 7 * n * n + 5.5 * n : 14 * n + 11;
  const tail = slots ? 16 : 8;
  const noise = (tail * Math.sqrt(summands * variance)) / 2 ** params.scaleBits;
  // The decoders work in doubles: relative 2^-52 per operation, log2(N) FFT stages for slots.
  const float = summands * Math.abs(clipNorm) * 2 ** -50 * (slots ? Math.log2(n) : 1);
  return noise + float;
}

/**
 * Largest power-of-two scale (as log2) such that the sum of `maxClients`
 * vectors, each with L2 norm ≤ `clipNorm` (so every coordinate |x| ≤
 * clipNorm), can never wrap — i.e. the largest scaleBits with
 * `maxRepresentable(params, maxClients) ≥ clipNorm` (headroom for encoding and
 * encryption noise as documented above) — and that SEAL accepts.
 *
 * Throws `CkksError('no_safe_scale')` if even that scale leaves fewer than
 * `minPrecisionBits` (default 20) bits of fractional precision, where
 * precision = floor(-log2(estimateMaxError(params, maxClients, clipNorm))).
 */
export function chooseScaleBits(
  preset: PresetName,
  encoding: Encoding,
  maxClients: number,
  clipNorm: number,
  opts?: { minPrecisionBits?: number },
): number {
  const p = getPreset(preset);
  assertSummands(maxClients);
  if (!Number.isFinite(clipNorm) || clipNorm <= 0) {
    throw new CkksError('invalid_params', `clip norm ${String(clipNorm)} must be a positive finite number`);
  }
  const minPrecisionBits = opts?.minPrecisionBits ?? 20;
  if (!Number.isFinite(minPrecisionBits)) throw new CkksError('invalid_params', 'minPrecisionBits must be finite');
  for (let s = maxScaleBits(p); s >= 1; s--) {
    const params: CkksParams = { preset, encoding, scaleBits: s };
    if (maxRepresentable(params, maxClients) < clipNorm) continue;
    const bits = Math.floor(-Math.log2(estimateMaxError(params, maxClients, clipNorm)));
    if (bits < minPrecisionBits) {
      throw new CkksError(
        'no_safe_scale',
        `${preset}/${encoding}: the largest overflow-safe scale for ${maxClients} clients at clip norm ${clipNorm} is 2^${s}, ` +
          `which leaves ${bits} bits of precision (< ${minPrecisionBits}); use fewer clients per round, a smaller clip norm or a larger preset`,
      );
    }
    return s;
  }
  throw new CkksError(
    'no_safe_scale',
    `${preset}/${encoding}: no scale keeps the sum of ${maxClients} clients at clip norm ${clipNorm} from wrapping; ` +
      'use fewer clients per round, a smaller clip norm or a larger preset',
  );
}
