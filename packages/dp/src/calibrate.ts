/**
 * Calibration of the noise multiplier for a target (ε, δ).
 *
 * @module
 */

import { computeEpsilon } from './conversion.js';
import type { Conversion } from './conversion.js';
import { computeEpsilonPld } from './pld.js';
import type { Accountant } from './pld.js';
import type { FractionalSeries } from './rdp.js';

/** Largest noise multiplier tried before giving up (Opacus's `MAX_SIGMA`). */
const MAX_NOISE_MULTIPLIER = 1e6;

/** What {@link calibrateNoiseMultiplier} aims for. */
export interface CalibrationTarget {
  /** Target ε > 0. */
  epsilon: number;
  /** δ in (0, 1). */
  delta: number;
  /** Poisson sampling rate q ∈ (0, 1]. */
  samplingRate: number;
  /** Number of rounds T (positive integer). */
  steps: number;
}

/** Tuning of {@link calibrateNoiseMultiplier}. */
export interface CalibrationOptions {
  /** Stop when target ε − ε(z) ≤ this (default 0.01, as Opacus). */
  epsilonTolerance?: number;
  /** Accountant that prices z; default `'rdp'`. `orders`, `conversion` and `series` apply to rdp only. */
  accountant?: Accountant;
  orders?: readonly number[];
  conversion?: Conversion;
  /** See {@link FractionalSeries}; default `'absolute'`. */
  series?: FractionalSeries;
}

/**
 * Smallest noise multiplier z (up to the tolerance) such that `steps` rounds
 * of the Poisson-subsampled Gaussian at rate q satisfy (ε, δ)-DP under the
 * chosen accountant (RDP by default; PLD gives a smaller z for the same budget).
 *
 * The search is Opacus's `get_noise_multiplier` (opacus/accountants/utils.py):
 * start from z ∈ (0, 20], double the upper end until ε(z) ≤ target, then bisect
 * until target − ε(z_high) ≤ `epsilonTolerance`. The result always satisfies
 * ε(z) ≤ target, so spending it never exceeds the budget.
 *
 * @throws RangeError for invalid targets, or when even z = 1e6 does not reach
 *   the target ("privacy budget too low").
 */
export function calibrateNoiseMultiplier(target: CalibrationTarget, opts: CalibrationOptions = {}): number {
  const { epsilon, delta, samplingRate, steps } = target;
  const tolerance = opts.epsilonTolerance ?? 0.01;
  if (!(epsilon > 0 && epsilon < Infinity)) throw new RangeError(`epsilon must be a positive finite number, got ${epsilon}`);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  if (!(samplingRate > 0 && samplingRate <= 1)) throw new RangeError(`sampling rate must be in (0, 1], got ${samplingRate}`);
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!(tolerance > 0)) throw new RangeError(`epsilon tolerance must be > 0, got ${tolerance}`);
  const accOpts = {
    ...(opts.orders ? { orders: opts.orders } : {}),
    conversion: opts.conversion ?? 'improved',
    series: opts.series ?? 'absolute',
  };
  const accountant = opts.accountant ?? 'rdp';
  if (accountant !== 'rdp' && accountant !== 'pld') throw new RangeError(`accountant must be 'rdp' or 'pld', got '${String(accountant)}'`);
  const epsilonAt = (z: number): number =>
    accountant === 'pld'
      ? computeEpsilonPld([{ noiseMultiplier: z, samplingRate, steps }], delta).epsilon
      : computeEpsilon([{ noiseMultiplier: z, samplingRate, steps }], delta, accOpts).epsilon;

  let zLow = 0;
  let zHigh = 10;
  let epsHigh = Infinity;
  while (epsHigh > epsilon) {
    zHigh *= 2;
    epsHigh = epsilonAt(zHigh);
    if (zHigh > MAX_NOISE_MULTIPLIER) throw new RangeError('privacy budget too low: no noise multiplier up to 1e6 reaches it');
  }
  while (epsilon - epsHigh > tolerance) {
    const z = (zLow + zHigh) / 2;
    const eps = epsilonAt(z);
    if (eps < epsilon) {
      zHigh = z;
      epsHigh = eps;
    } else {
      zLow = z;
    }
  }
  return zHigh;
}
