/**
 * Exact sampling from the discrete Gaussian N_Z(0, σ²): P[Y = y] ∝ e^{−y²/(2σ²)}
 * over the integers, for rational σ². Canonne, Kamath, Steinke 2020, "The
 * Discrete Gaussian for Differential Privacy", Algorithm 3: propose from a
 * discrete Laplace of scale τ and accept y with probability
 * exp(−(|y| − σ²/τ)²/(2σ²)). For any τ > 0 the accepted value is exactly
 * discrete-Gaussian, since
 *   e^{−|y|/τ}·e^{−(|y|−σ²/τ)²/(2σ²)} = e^{−y²/(2σ²)}·e^{−σ²/(2τ²)};
 * τ only affects speed (CKS20 take τ = ⌊σ⌋ + 1).
 *
 * ## Choice of τ (the "plan")
 *
 * With σ² = n/d in lowest terms:
 * - σ ≥ 1: m = σ rounded to the nearest integer and τ = σ²/m = n/(d·m), so the
 *   centre σ²/τ = m is an integer and γ(y) = (|y| − m)²·d/(2n) has small
 *   numerator and denominator — no big numbers in the acceptance step.
 * - σ < 1: τ = 1 (as CKS20), γ(y) = (|y|·d − n)²/(2nd).
 * Both are γ(y) = (|y|·A − B)²·E/F with integers A, B, E, F, and the proposal
 * is Lap_Z(t/s) with integers t, s.
 *
 * ## Exact arithmetic in doubles (the fast path)
 *
 * The fast path runs the same algorithm as the bigint reference
 * ({@link sampleDiscreteGaussianReference}), draw for draw, but keeps every
 * integer in a JS number. This is exact integer arithmetic because every
 * operand and every result is an integer of magnitude ≤ L = 2^53 − 1, where
 * IEEE-754 doubles represent all integers and +, −, × are exact:
 * - static: t, s, A, B, E, F ≤ L (else the bigint reference is used);
 * - X = U + t·V with U < t: checked by V ≤ ⌊(L + 1)/t⌋ − 1, which gives
 *   X ≤ t·(V + 1) − 1 ≤ L;
 * - x = |a·A − B|: checked by a ≤ ⌊L/A⌋ (then a·A ≤ L and |a·A − B| ≤ L);
 * - x²·E: checked by x ≤ ⌊√⌊L/E⌋⌋, which gives x²·E ≤ L;
 * - division: q = (X − X % s)/s. `%` on doubles is exact (IEEE remainder of
 *   integers is an integer, computed without rounding) and X − X % s is an
 *   exact multiple of s, so the quotient — an integer ≤ L — is exact;
 * - comparisons of such integers are exact; bitwise operators are not used on
 *   values ≥ 2^32.
 * When a dynamic check fails (probability < e^{−20} per sample for σ ≥ 1 at
 * the release path's parameters), that one step continues in bigint with the
 * same draws, so the output is the same as the reference's. No Math function,
 * no transcendental and no floating-point rounding is involved.
 *
 * @module
 */

import type { RandomSource } from './rng.js';
import { gcd, isqrt, reduceRational } from './rational.js';
import type { Rational } from './rational.js';
import { bernoulliExpBig, discreteLaplaceBig } from './bernoulli-exp.js';

/** Parameters of one discrete Gaussian: proposal Lap_Z(t/s), γ(a) = (a·A − B)²·E/F. */
export interface DiscreteGaussianPlan {
  t: bigint;
  s: bigint;
  A: bigint;
  B: bigint;
  E: bigint;
  F: bigint;
}

/** The τ and acceptance constants for σ² (see the module comment). */
export function planDiscreteGaussian(sigmaSquared: Rational): DiscreteGaussianPlan {
  const { num: n, den: d } = reduceRational(sigmaSquared);
  if (n <= 0n) throw new RangeError('sigma^2 must be > 0');
  if (n < d) {
    // σ < 1: τ = 1, centre σ² = n/d.
    return { t: 1n, s: 1n, A: d, B: n, E: 1n, F: 2n * n * d };
  }
  let m = isqrt(n / d); // ⌊σ⌋ ≥ 1
  if (4n * n >= (2n * m + 1n) * (2n * m + 1n) * d) m += 1n; // σ ≥ m + ½: round up
  const g1 = gcd(n, d * m);
  const g2 = gcd(d, 2n * n);
  return { t: n / g1, s: (d * m) / g1, A: 1n, B: m, E: d / g2, F: (2n * n) / g2 };
}

function absBig(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/**
 * Reference implementation in bigint arithmetic (slow; used when the fast
 * path's constants do not fit, and by the tests as the oracle).
 */
export function sampleDiscreteGaussianReference(sigmaSquared: Rational, rng: RandomSource): bigint {
  const p = planDiscreteGaussian(sigmaSquared);
  return referenceWithPlan(p, rng);
}

function referenceWithPlan(p: DiscreteGaussianPlan, rng: RandomSource): bigint {
  for (;;) {
    const y = discreteLaplaceBig(p.t, p.s, rng);
    const x = absBig(absBig(y) * p.A - p.B);
    if (bernoulliExpBig(x * x * p.E, p.F, rng)) return y;
  }
}

/** Adapts a bigint-only source to the number interface (same draws). */
class SafeAdapter {
  constructor(private readonly rng: RandomSource) {}
  randomBelowSafe(n: number): number {
    return Number(this.rng.randomBelow(BigInt(n)));
  }
}

interface SafeSource {
  randomBelowSafe(n: number): number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * A reusable exact discrete Gaussian sampler for a fixed σ². Precomputes the
 * plan once; `sampleNumber()` is the fast path for bulk noise.
 *
 * @example
 * const sampler = new DiscreteGaussianSampler({ num: 1n << 40n, den: 1n }, cryptoRandomSource()); // σ = 2^20
 * const y = sampler.sampleNumber();
 */
export class DiscreteGaussianSampler {
  /** σ² in lowest terms. */
  readonly sigmaSquared: Rational;
  /** Whether the plan fits the exact-in-doubles fast path. */
  readonly fastPath: boolean;
  private readonly plan: DiscreteGaussianPlan;
  private readonly rng: RandomSource;
  private readonly src: SafeSource;
  // Fast-path constants (numbers) and overflow thresholds.
  private readonly t: number;
  private readonly s: number;
  private readonly A: number;
  private readonly B: number;
  private readonly E: number;
  private readonly F: number;
  private readonly vSafeMax: number;
  private readonly aSafeMax: number;
  private readonly xSafeMax: number;

  /**
   * @param sigmaSquared σ² > 0 as an exact rational.
   * @param rng source of randomness (use {@link cryptoRandomSource} for releases).
   * @param safeLimit internal, for tests: the largest integer the fast path may
   *   hold (default and maximum 2^53 − 1). Lower values force the bigint
   *   continuations to run, to test that they agree with the reference.
   */
  constructor(sigmaSquared: Rational, rng: RandomSource, safeLimit: number = MAX_SAFE) {
    if (!(Number.isSafeInteger(safeLimit) && safeLimit >= 3)) throw new RangeError('safeLimit must be a safe integer >= 3');
    this.sigmaSquared = reduceRational(sigmaSquared);
    this.plan = planDiscreteGaussian(this.sigmaSquared);
    this.rng = rng;
    this.src = typeof rng.randomBelowSafe === 'function' ? (rng as SafeSource) : new SafeAdapter(rng);
    const L = BigInt(safeLimit);
    const p = this.plan;
    this.fastPath = [p.t, p.s, p.A, p.B, p.E, p.F].every((v) => v <= L);
    this.t = Number(p.t);
    this.s = Number(p.s);
    this.A = Number(p.A);
    this.B = Number(p.B);
    this.E = Number(p.E);
    this.F = Number(p.F);
    this.vSafeMax = this.fastPath ? Number((L + 1n) / p.t - 1n) : 0;
    this.aSafeMax = this.fastPath ? Number(L / p.A) : 0;
    this.xSafeMax = this.fastPath ? Number(isqrt(L / p.E)) : 0;
  }

  /** One exact sample. */
  sample(): bigint {
    if (!this.fastPath) return referenceWithPlan(this.plan, this.rng);
    const y = this.next();
    return typeof y === 'bigint' ? y : BigInt(y);
  }

  /**
   * One sample as a number: exact whenever |y| ≤ 2^53 − 1 (for any σ below
   * ~2^47 the chance of anything larger is far below 2^−1000); otherwise the
   * nearest double.
   */
  sampleNumber(): number {
    if (!this.fastPath) return Number(referenceWithPlan(this.plan, this.rng));
    const y = this.next();
    return typeof y === 'bigint' ? Number(y) : y;
  }

  private draw(n: number): number {
    return n === 1 ? 0 : this.src.randomBelowSafe(n);
  }

  /** Bernoulli(exp(−num/den)), 0 ≤ num ≤ den ≤ L (CKS20 Alg. 1; see bernoulliExpFracBig). */
  private bernExpFrac(num: number, den: number): boolean {
    if (num === 0) return true;
    let k = 1;
    for (;;) {
      if (k > 1 && this.draw(k) !== 0) break;
      if (!(this.draw(den) < num)) break;
      k++;
    }
    return (k & 1) === 1;
  }

  /** Bernoulli(e^{−1}): Algorithm 1 with γ = 1 (Bernoulli(γ) always succeeds). */
  private bernExpMinusOne(): boolean {
    let k = 2;
    while (this.draw(k) === 0) k++;
    return (k & 1) === 1;
  }

  /** Bernoulli(exp(−N/F)) for 0 ≤ N ≤ L. */
  private bernExp(N: number): boolean {
    const F = this.F;
    const r = N % F;
    const whole = (N - r) / F;
    for (let i = 0; i < whole; i++) if (!this.bernExpMinusOne()) return false;
    return this.bernExpFrac(r, F);
  }

  /** Bernoulli(exp(−N/F)) for a big N (rare continuation; same draws). */
  private bernExpBig(N: bigint): boolean {
    const F = this.plan.F;
    const whole = N / F;
    for (let i = 0n; i < whole; i++) if (!this.bernExpMinusOne()) return false;
    return this.bernExpFrac(Number(N % F), this.F);
  }

  /** Discrete Laplace Lap_Z(t/s) (CKS20 Alg. 2). */
  private laplace(): number | bigint {
    const t = this.t;
    const s = this.s;
    for (;;) {
      const u = this.draw(t);
      if (!this.bernExpFrac(u, t)) continue;
      let v = 0;
      while (this.bernExpMinusOne()) v++;
      let y: number | bigint;
      if (v <= this.vSafeMax) {
        const x = u + t * v;
        y = s === 1 ? x : (x - (x % s)) / s;
      } else {
        const big = (BigInt(u) + this.plan.t * BigInt(v)) / this.plan.s;
        y = big <= BigInt(MAX_SAFE) ? Number(big) : big;
      }
      const negative = this.draw(2) < 1;
      if (negative && y === 0) continue;
      return negative ? -y : y;
    }
  }

  /** Discrete Gaussian (CKS20 Alg. 3 with the plan's τ). */
  private next(): number | bigint {
    const A = this.A;
    const B = this.B;
    const E = this.E;
    for (;;) {
      const y = this.laplace();
      if (typeof y === 'number') {
        const a = y < 0 ? -y : y;
        if (a <= this.aSafeMax) {
          const ax = a * A - B;
          const x = ax < 0 ? -ax : ax;
          if (x <= this.xSafeMax) {
            if (this.bernExp(x * x * E)) return y;
            continue;
          }
        }
      }
      const yb = typeof y === 'bigint' ? y : BigInt(y);
      const x = absBig(absBig(yb) * this.plan.A - this.plan.B);
      if (this.bernExpBig(x * x * this.plan.E)) return y;
    }
  }
}

/**
 * One exact sample of the discrete Gaussian N_Z(0, σ²) for rational σ²
 * (CKS20 Algorithm 3). Integer arithmetic only. For many samples with the
 * same σ², construct a {@link DiscreteGaussianSampler} once instead.
 */
export function sampleDiscreteGaussian(sigmaSquared: Rational, rng: RandomSource): bigint {
  return new DiscreteGaussianSampler(sigmaSquared, rng).sample();
}
