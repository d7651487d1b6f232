/**
 * Noise flooding (DESIGN.md §5; Li & Micciancio, EUROCRYPT 2021; SEAL 4.1
 * SECURITY.md): a CKKS decryption is the message plus an error that depends
 * on the secret key, so a released decryption leaks key information unless
 * the error is drowned in noise. The keyholder releases sum + DP noise of
 * standard deviation σ = z·C per value; this module bounds the decryption
 * error of the released sum and states the flooding margin log2(σ / bound).
 *
 * ## Error of one fresh SEAL public-key encryption (per plaintext coefficient)
 *
 * SEAL 4.1 (rlwe.cpp `encrypt_zero_asymmetric`): pk = (−(a·s + e), a);
 * ct = (pk0·u + e1, pk1·u + e2) + (Δm, 0), so c0 + c1·s = Δm + e1 + e2·s − e·u,
 * in Z[X]/(X^N + 1). Secret s and ephemeral u are uniform ternary; e, e1, e2
 * are SEAL's noise: centred binomial over 2·21 bits (variance 10.5, |x| ≤ 21)
 * by default, or the clipped normal σ = 3.2, |x| ≤ 19.2 (variance ≤ 10.24)
 * with SEAL_USE_GAUSSIAN_NOISE. We use the larger of each figure, so the
 * bound holds for both builds.
 * - A chain with a special prime p (more than one prime) encrypts at the key
 *   level and divides by p with rounding (encryptor.cpp): the error becomes
 *   (e1 + e2·s − e·u)/p + r0 + r1·s with r0, r1 uniform in [−½, ½].
 * - Encoding rounds Δ·m to integers: ≤ ½ per coefficient and summand
 *   (coefficients: deterministic; slots: modelled as uniform, it does not
 *   depend on the key).
 *
 * ## Why the bound is sub-Gaussian (the proof in short)
 *
 * Conditioned on the round's key (s, e), every coefficient — and every
 * decoded slot — of a sum of K encryptions is a sum of independent,
 * zero-mean terms in the fresh randomness (e1, e2, u of each summand):
 * - centred binomial noise is sub-Gaussian with variance proxy equal to its
 *   variance 10.5 (a sum of ±½ Bernoulli steps, Hoeffding);
 * - uniform ternary is sub-Gaussian with proxy 2/3 = its variance
 *   ((1 + 2cosh λ)/3 ≤ e^{λ²/3}, termwise);
 * - uniform on [−½, ½] is sub-Gaussian with proxy 1/12.
 * So a coefficient has proxy K·[10.5·(1 + hw(s)) + (2/3)·‖e‖²] (a product
 * coefficient (e2·s)_i is ±e2_j·s_k over a signed permutation), and with
 * slot encoding the decoded value is Re(E(ζ))/Δ at a primitive 2N-th root ζ,
 * with proxy K·(N/2)·[10.5·(1 + |s(ζ)|²) + (2/3)·|e(ζ)|²] (Σ_j Re(ζ^j w)² =
 * N|w|²/2 because Σ_j ζ^{2j} = 0). The key statistics are bounded a priori,
 * each except with probability p:
 * - hw(s) ≤ 2N/3 + √(N·ln(1/p)/2) (Hoeffding on Binomial(N, 2/3));
 * - ‖e‖² ≤ 10.5·N + t, Bernstein with Var(e_j²) ≤ 215.25, e_j² ≤ 441;
 * - max_ζ |s(ζ)|², max_ζ |e(ζ)|²: (Re, Im) is a 2-d sub-Gaussian vector with
 *   proxy v = N/3 (resp. 10.5·N/2) in every direction, so its squared norm
 *   is ≤ v·(2 + 2√(2L) + 2L), L = ln(N/p) (Hsu, Kakade, Zhang 2012, Thm 1,
 *   union over the N roots).
 * Then each released value's error is ≤ √(2·V·ln(2/p)) (sub-Gaussian tail)
 * plus the deterministic rounding, except with probability p, where p =
 * 2^{-40} ({@link BOUND_FAILURE_PROBABILITY}).
 *
 * The bound is tested against real node-seal sums (flooding.test.ts).
 *
 * @module
 */
import { PRESETS, type CkksParams, type Encoding } from '@secagg/ckks';

/** Each high-probability step of the bound fails with at most this probability. */
export const BOUND_FAILURE_PROBABILITY = 2 ** -40;

/** SEAL's error distribution, the larger of the centred binomial (default) and clipped normal figures. */
const NOISE_VARIANCE = 10.5; // CBD(21): 42 · ¼; clipped normal: ≤ 3.2² = 10.24
const NOISE_MAX = 21; // CBD(21); clipped normal: 6 · 3.2 = 19.2
const NOISE_SQUARE_VARIANCE = 215.25; // Var(e²) for CBD(21): E e⁴ = 325.5, minus 10.5²; clipped normal ≈ 2·3.2⁴ = 210
const TERNARY_VARIANCE = 2 / 3;
const UNIFORM_HALF_VARIANCE = 1 / 12;

/** What the error depends on: ring degree, whether SEAL divides by a special prime, encoding and scale. */
export interface CkksErrorParams {
  polyModulusDegree: number;
  /** Bit size of the special (key-level) prime SEAL divides by after encrypting, or 0 for a single-prime chain. */
  specialPrimeBits: number;
  encoding: Encoding;
  scaleBits: number;
}

/** The error parameters of a round's CKKS parameters (preset chain as SEAL uses it: the last prime is special when there are several). */
export function errorParamsOf(params: CkksParams): CkksErrorParams {
  const preset = PRESETS[params.preset];
  const bits = preset.coeffModulusBits;
  return {
    polyModulusDegree: preset.polyModulusDegree,
    specialPrimeBits: bits.length > 1 ? bits[bits.length - 1]! : 0,
    encoding: params.encoding,
    scaleBits: params.scaleBits,
  };
}

/** A priori high-probability bounds on the round key's statistics (module comment). */
export interface KeyStatisticBounds {
  /** Hamming weight of s. */
  secretWeight: number;
  /** ‖e‖² of the public key's error. */
  publicErrorNormSquared: number;
  /** max over the primitive 2N-th roots ζ of |s(ζ)|². */
  secretEmbeddingSquared: number;
  /** max over ζ of |e(ζ)|². */
  publicErrorEmbeddingSquared: number;
}

export function keyStatisticBounds(n: number, p = BOUND_FAILURE_PROBABILITY): KeyStatisticBounds {
  const log1p = Math.log(1 / p);
  const secretWeight = Math.min(n, (2 * n) / 3 + Math.sqrt((n * log1p) / 2));
  const b = NOISE_MAX * NOISE_MAX; // e_j² − E e_j² ≤ 441
  const linear = (b / 3) * log1p;
  const bernstein = linear + Math.sqrt(linear * linear + 2 * n * NOISE_SQUARE_VARIANCE * log1p);
  const publicErrorNormSquared = Math.min(n * b, n * NOISE_VARIANCE + bernstein);
  const l = Math.log(n / p);
  const hkz = 2 + 2 * Math.sqrt(2 * l) + 2 * l; // d + 2√(dL) + 2L at d = 2
  return {
    secretWeight,
    publicErrorNormSquared,
    secretEmbeddingSquared: Math.min(secretWeight * secretWeight, (n / 3) * hkz),
    publicErrorEmbeddingSquared: Math.min((NOISE_MAX * n) ** 2, ((NOISE_VARIANCE * n) / 2) * hkz),
  };
}

/**
 * Variance proxy (in scaled units², i.e. before dividing by the scale) of one
 * released value's error contributed by ONE summand, conditioned on a key
 * within {@link keyStatisticBounds}, and the deterministic part per summand.
 */
function perSummand(params: CkksErrorParams, keys: KeyStatisticBounds): { proxy: number; deterministic: number } {
  const n = params.polyModulusDegree;
  const slots = params.encoding === 'slots';
  // Fresh error e1 + e2·s − e·u at the encryption level.
  const fresh = slots
    ? (n / 2) * (NOISE_VARIANCE * (1 + keys.secretEmbeddingSquared) + TERNARY_VARIANCE * keys.publicErrorEmbeddingSquared)
    : NOISE_VARIANCE * (1 + keys.secretWeight) + TERNARY_VARIANCE * keys.publicErrorNormSquared;
  let proxy = fresh;
  if (params.specialPrimeBits > 0) {
    // Divided by the special prime p ≥ 2^(bits−1), plus the rounding r0 + r1·s.
    const p = 2 ** (params.specialPrimeBits - 1);
    const rounding = slots
      ? (n / 2) * UNIFORM_HALF_VARIANCE * (1 + keys.secretEmbeddingSquared)
      : UNIFORM_HALF_VARIANCE * (1 + keys.secretWeight);
    proxy = fresh / (p * p) + rounding;
  }
  // Encoding: round(Δ·m). Coefficients: |r| ≤ ½ per value. Slots: r(ζ), modelled as uniform (key-independent).
  if (slots) proxy += (n / 2) * UNIFORM_HALF_VARIANCE;
  return { proxy, deterministic: slots ? 0 : 0.5 };
}

/** Bound on the decryption error of one released value. */
export interface DecryptionErrorBound {
  /** In scaled units (a plaintext coefficient / the slot's polynomial value). */
  scaled: number;
  /** In the update's unit (÷ 2^scaleBits). */
  value: number;
}

/**
 * High-probability bound on |decoded − exact| for any one value of a sum of
 * `summands` fresh encryptions (module comment): √(2·K·V·ln(2/p)) + K·d.
 * Each value's bound fails with probability ≤ p, the key statistics with ≤ 4p.
 */
export function decryptionErrorBound(params: CkksErrorParams, summands: number, p = BOUND_FAILURE_PROBABILITY): DecryptionErrorBound {
  if (!Number.isSafeInteger(summands) || summands < 1) throw new RangeError(`summands must be a positive integer, got ${summands}`);
  const { proxy, deterministic } = perSummand(params, keyStatisticBounds(params.polyModulusDegree, p));
  const scaled = Math.sqrt(2 * summands * proxy * Math.log(2 / p)) + summands * deterministic;
  return { scaled, value: scaled / 2 ** params.scaleBits };
}

/**
 * Bound on the L2 norm, in the update's unit, of ONE client's share of the
 * decryption error over the whole vector (`vectorLength` values). Removing a
 * client removes its encryption error along with its update, so the
 * accountant adds this to the sensitivity. Union bound over the values: it
 * fails with probability ≤ p overall (plus the key statistics' 4p).
 */
export function perClientErrorL2(params: CkksErrorParams, vectorLength: number, p = BOUND_FAILURE_PROBABILITY): number {
  const perValue = decryptionErrorBound(params, 1, p / Math.max(1, vectorLength)).value;
  return Math.sqrt(vectorLength) * perValue;
}

/** log2(σ / bound): bits by which the DP noise exceeds the decryption error. +∞ for a zero bound. */
export function floodingMarginBits(sigma: number, bound: DecryptionErrorBound): number {
  return Math.log2(sigma / bound.value);
}

/**
 * The bound under a collective key of `keyholders` shares (issue 16; 0 or 1:
 * the single keyholder's key, unchanged). s = Σsᵢ and e = Σeᵢ are no longer
 * ternary and SEAL-sized: by Cauchy–Schwarz ‖Σsᵢ‖² ≤ n·Σ‖sᵢ‖² ≤ n²·max‖sᵢ‖²
 * (and the same for e and for the embeddings |s(ζ)|², |e(ζ)|²), so every
 * key-dependent term of the variance proxy grows at most n²-fold and the
 * key-independent ones not at all: the bound grows at most n-fold, and the
 * flooding margin of one keyholder's noise loses at most log2(n) bits
 * (1.6 for three keyholders). Conservative: sums of independent ternaries
 * grow like √n, not n.
 */
export function collectiveErrorBound(bound: DecryptionErrorBound, keyholders: number): DecryptionErrorBound {
  const n = Math.max(1, keyholders);
  return { scaled: bound.scaled * n, value: bound.value * n };
}
