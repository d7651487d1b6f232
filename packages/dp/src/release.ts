/**
 * The release primitive: quantise an aggregate to a grid and add exact
 * discrete Gaussian noise (Canonne, Kamath, Steinke 2020).
 *
 * @module
 */

import type { RandomSource } from './rng.js';
import { rationalFromNumber, roundUpDyadic } from './rational.js';
import type { Rational } from './rational.js';
import { DiscreteGaussianSampler } from './discrete-gaussian.js';

/** Numerator size the grid variance is rounded to (see {@link gridVariance}). */
const GRID_VARIANCE_BITS = 44;

/**
 * The variance, in grid units, that {@link addDiscreteGaussianNoise} samples
 * with: (sigma/gridStep)² computed exactly from the two doubles, then rounded
 * UP to a rational N/2^k with N < 2^44 (or ⌈·⌉ above 2^44) so the sampler's
 * integers stay small. The rounding only ever increases the noise, by a
 * relative 2^−42 at most (≈ 2.3e-13): the privacy guarantee computed for
 * `sigma` holds as is.
 */
export function gridVariance(sigma: number, gridStep: number): Rational {
  checkPositive('sigma', sigma);
  checkPositive('gridStep', gridStep);
  const s = rationalFromNumber(sigma);
  const g = rationalFromNumber(gridStep);
  const num = s.num * g.den;
  const den = s.den * g.num;
  return roundUpDyadic({ num: num * num, den: den * den }, GRID_VARIANCE_BITS);
}

function checkPositive(name: string, x: number): void {
  if (!(x > 0 && x < Infinity)) throw new RangeError(`${name} must be a positive finite number, got ${x}`);
}

/**
 * The release primitive. For each value: quantise to the nearest integer
 * multiple of `gridStep` (`Math.round`: halves round toward +∞),
 * add an independent exact discrete Gaussian sample with standard deviation
 * parameter `sigma` in value units (σ/gridStep in grid units, see
 * {@link gridVariance}), and return the noisy values on the grid.
 *
 * Privacy: the noise is ρ-zCDP with ρ = Δ²/(2σ²) for the L2 sensitivity Δ of
 * the *quantised* vector in value units (CKS20 Thm. 15). Rounding can move
 * each coordinate by up to half a step, so a neighbouring aggregate at L2
 * distance Δ₀ is at most Δ₀ + gridStep·√dimension away after quantisation;
 * use {@link roundedL2Sensitivity} for Δ.
 *
 * Output: (q + y)·gridStep for the integer q + y (computed exactly), so with a
 * power-of-two gridStep every output is exactly on the grid; with another
 * step it is the nearest double to the grid point.
 *
 * @param values the aggregate (finite values).
 * @param sigma noise standard deviation parameter, value units, > 0.
 * @param gridStep output grid spacing, value units, > 0 (a power of two is best).
 * @param rng {@link cryptoRandomSource} for real releases.
 * @throws RangeError on a non-finite value or parameter.
 */
export function addDiscreteGaussianNoise(
  values: Float64Array,
  sigma: number,
  gridStep: number,
  rng: RandomSource,
): Float64Array {
  const sampler = new DiscreteGaussianSampler(gridVariance(sigma, gridStep), rng);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`value at index ${i} is not finite`);
    const q = Math.round(v / gridStep);
    const y = sampler.sampleNumber();
    const k = q + y;
    out[i] = (Number.isSafeInteger(k) && Number.isSafeInteger(q) && Number.isSafeInteger(y)
      ? k
      : Number(BigInt(q) + BigInt(y))) * gridStep;
  }
  return out;
}

/**
 * Upper bound on the L2 sensitivity, in value units, of the quantised vector
 * round(x/gridStep)·gridStep when x has L2 sensitivity `l2Sensitivity`:
 * Δ + gridStep·√dimension (each coordinate's rounding error is ≤ gridStep/2,
 * so two rounding-error vectors differ by at most gridStep·√dimension).
 */
export function roundedL2Sensitivity(l2Sensitivity: number, gridStep: number, dimension: number): number {
  if (!(l2Sensitivity >= 0 && l2Sensitivity < Infinity)) throw new RangeError('l2Sensitivity must be finite and >= 0');
  checkPositive('gridStep', gridStep);
  if (!Number.isSafeInteger(dimension) || dimension < 0) throw new RangeError('dimension must be a non-negative integer');
  return l2Sensitivity + gridStep * Math.sqrt(dimension);
}
