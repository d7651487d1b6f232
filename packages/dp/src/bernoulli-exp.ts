/**
 * Exact Bernoulli(exp(−γ)) and discrete Laplace samplers, reference versions
 * in bigint arithmetic. Canonne, Kamath, Steinke 2020, "The Discrete Gaussian
 * for Differential Privacy" (NeurIPS; arXiv:2004.00010), Algorithms 1 and 2.
 *
 * Conventions shared with the fast sampler in discrete-gaussian.ts (they must
 * match draw for draw, which the tests check):
 * - `draw(n)` is `rng.randomBelow(n)`, except that n = 1 returns 0 without
 *   touching the source;
 * - Bernoulli(a/b) is `draw(b) < a`;
 * - Bernoulli(γ/k), needed by Algorithm 1, is Bernoulli(1/k) ∧ Bernoulli(γ),
 *   sampled in that order with short-circuit (same probability γ/k, smaller
 *   integers than drawing from [0, k·den)).
 *
 * @module
 */

import type { RandomSource } from './rng.js';
import { reduceRational } from './rational.js';
import type { Rational } from './rational.js';

/** Uniform in [0, n); n = 1 consumes no randomness. */
export function drawBig(rng: RandomSource, n: bigint): bigint {
  return n === 1n ? 0n : rng.randomBelow(n);
}

/**
 * Bernoulli(exp(−num/den)) for 0 ≤ num ≤ den (CKS20 Algorithm 1, γ ∈ [0, 1]):
 * K ← 1; while Bernoulli(γ/K) { K ← K + 1 }; return K odd.
 * P[K > k] = γᵏ/k!, so P[K odd] = Σ (−γ)ʲ/j! = e^{−γ}.
 */
export function bernoulliExpFracBig(num: bigint, den: bigint, rng: RandomSource): boolean {
  if (num === 0n) return true;
  let k = 1n;
  for (;;) {
    if (k > 1n && drawBig(rng, k) !== 0n) break; // Bernoulli(1/k) failed
    if (!(drawBig(rng, den) < num)) break; // Bernoulli(γ) failed
    k++;
  }
  return (k & 1n) === 1n;
}

/**
 * Bernoulli(exp(−num/den)) for any num ≥ 0, den ≥ 1 (CKS20 Algorithm 1):
 * ⌊γ⌋ independent Bernoulli(e^{−1}) must all succeed, then Bernoulli(e^{−(γ−⌊γ⌋)}).
 */
export function bernoulliExpBig(num: bigint, den: bigint, rng: RandomSource): boolean {
  const whole = num / den;
  for (let i = 0n; i < whole; i++) if (!bernoulliExpFracBig(1n, 1n, rng)) return false;
  return bernoulliExpFracBig(num % den, den, rng);
}

/**
 * Discrete Laplace with scale t/s: P[Y = y] ∝ exp(−|y|·s/t) (CKS20 Algorithm 2).
 * U ∈ [0, t) accepted with probability e^{−U/t}, V ~ Geometric(1 − e^{−1}),
 * Y = ⌊(U + tV)/s⌋ with a random sign, rejecting "−0".
 */
export function discreteLaplaceBig(t: bigint, s: bigint, rng: RandomSource): bigint {
  for (;;) {
    const u = drawBig(rng, t);
    if (!bernoulliExpFracBig(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExpFracBig(1n, 1n, rng)) v++;
    const y = (u + t * v) / s;
    const negative = drawBig(rng, 2n) < 1n; // Bernoulli(1/2)
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/**
 * Exact Bernoulli(exp(−γ)) for a rational γ ≥ 0 (CKS20 Algorithm 1).
 * Integer arithmetic only; `γ` is given as an exact {@link Rational}.
 */
export function sampleBernoulliExp(gamma: Rational, rng: RandomSource): boolean {
  const g = reduceRational(gamma);
  if (g.num < 0n) throw new RangeError('gamma must be >= 0');
  return bernoulliExpBig(g.num, g.den, rng);
}

/**
 * Exact discrete Laplace sample with P[Y = y] ∝ exp(−|y|/scale) over the
 * integers, for a rational scale > 0 (CKS20 Algorithm 2).
 */
export function sampleDiscreteLaplace(scale: Rational, rng: RandomSource): bigint {
  const r = reduceRational(scale);
  if (r.num <= 0n) throw new RangeError('scale must be > 0');
  return discreteLaplaceBig(r.num, r.den, rng);
}
