/**
 * Rényi DP of the Gaussian and of the Poisson-subsampled Gaussian mechanism.
 *
 * - Gaussian with noise multiplier z (noise std / L2 sensitivity): ε(α) = α/(2z²)
 *   (Mironov 2017, "Rényi Differential Privacy", Prop. 7).
 * - Poisson-subsampled Gaussian (each record included with probability q):
 *   ε(α) = log(A_α)/(α − 1) with A_α = E_{x∼N(0,z²)}[((1−q) + q·e^{(2x−1)/(2z²)})^α]
 *   (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled
 *   Gaussian Mechanism", arXiv:1908.10530, §3.3). A_α is evaluated in log
 *   space: a finite binomial sum for integer α, and for fractional α the two
 *   convergent binomial series on either side of z₀ = z²·log(1/q − 1) + ½.
 *   The same computation exists as `_compute_log_a_int` / `_compute_log_a_frac`
 *   in Google's dp-accounting and TF Privacy; this is an independent rewrite.
 * - Composition: RDP at a fixed order adds over mechanisms (Mironov 2017, Prop. 1).
 *
 * @module
 */

import { logAdd, logSub } from './log-space.js';
import { logErfc } from './special-functions.js';
import { DEFAULT_RDP_ORDERS, checkOrders } from './orders.js';

const LOG_HALF = Math.log(0.5);
const SQRT2 = Math.SQRT2;
/** Iteration cap for the fractional-order series (as dp-accounting's `_MAX_STEPS_LOG_A_FRAC`). */
const MAX_FRAC_TERMS = 1000;

function checkNoiseMultiplier(z: number): void {
  if (!(z >= 0) || Number.isNaN(z)) throw new RangeError(`noise multiplier must be >= 0, got ${z}`);
}

function checkOrder(order: number): void {
  if (!(order > 1)) throw new RangeError(`RDP order must be > 1, got ${order}`);
}

/**
 * RDP of the Gaussian mechanism at `order`: α/(2z²) (Mironov 2017, Prop. 7).
 * `noiseMultiplier` is the noise standard deviation divided by the L2
 * sensitivity. z = 0 gives +∞.
 */
export function rdpGaussian(noiseMultiplier: number, order: number): number {
  checkNoiseMultiplier(noiseMultiplier);
  checkOrder(order);
  if (order === Infinity || noiseMultiplier === 0) return Infinity;
  return order / (2 * noiseMultiplier * noiseMultiplier);
}

/** log A_α for integer α ≥ 2 and 0 < q < 1: Σᵢ C(α,i) qⁱ (1−q)^{α−i} e^{(i²−i)/(2σ²)}. */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let logA = -Infinity;
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const term = logBinom + i * logQ + (alpha - i) * log1mQ + (i * i - i) / twoSigma2;
    logA = logAdd(logA, term);
  }
  return logA;
}

/**
 * How the fractional-order series of MTZ19 §3.3 is summed.
 *
 * The generalised binomial coefficients C(α, i) alternate in sign for i > α + 1.
 * - `'absolute'` (default): every term is added by absolute value, which
 *   bounds A_α from above — conservative and immune to cancellation. This is
 *   what Google dp-accounting does since April 2024 ("Improve numerical
 *   stability of RDP computation", tensorflow/privacy 8b3d8e1).
 * - `'signed'`: the series with its signs, i.e. the exact A_α (smaller, so a
 *   smaller ε), as in TF Privacy before 2024 and in Opacus. Positive and
 *   negative parts are accumulated separately and subtracted once; should that
 *   subtraction fail numerically, the absolute sum is returned instead.
 *
 * The two agree closely at orders ≥ 3 and can differ by tens of percent in
 * RDP at orders near 1; integer orders are unaffected.
 */
export type FractionalSeries = 'absolute' | 'signed';

/** log A_α for fractional α > 1 and 0 < q < 1 (MTZ19 §3.3). */
function logAFrac(q: number, sigma: number, alpha: number, series: FractionalSeries): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const sigma2 = sigma * sigma;
  const z0 = sigma2 * (log1mQ - logQ) + 0.5;
  const scale = SQRT2 * sigma;
  let absTotal = -Infinity; // log Σ |terms|
  let pos = -Infinity; // log Σ positive terms (both halves)
  let neg = -Infinity; // log Σ |negative terms|
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  let logAbsBinom = 0; // log |C(α, 0)|
  let negative = false; // sign of C(α, i)
  for (let i = 0; i < MAX_FRAC_TERMS; i++) {
    if (i > 0) {
      const f = alpha - i + 1;
      logAbsBinom += Math.log(Math.abs(f) / i);
      if (f < 0) negative = !negative;
    }
    const j = alpha - i;
    const logT0 = logAbsBinom + i * logQ + j * log1mQ;
    const logT1 = logAbsBinom + j * logQ + i * log1mQ;
    const logE0 = LOG_HALF + logErfc((i - z0) / scale);
    const logE1 = LOG_HALF + logErfc((z0 - j) / scale);
    const logS0 = logT0 + (i * i - i) / (2 * sigma2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma2) + logE1;
    const both = logAdd(logS0, logS1);
    absTotal = logAdd(absTotal, both);
    if (negative) neg = logAdd(neg, both);
    else pos = logAdd(pos, both);
    // Stop once both series are decreasing and the new terms are negligible
    // (below e^{-30} ≈ 1e-13 of the total), as dp-accounting does.
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < absTotal - 30) {
      if (series === 'absolute') return absTotal;
      const signed = logSub(pos, neg);
      return Number.isNaN(signed) || signed === -Infinity ? absTotal : signed;
    }
    lastS0 = logS0;
    lastS1 = logS1;
  }
  // Not converged: exclude this order (ε = ∞ there), as dp-accounting does.
  return Infinity;
}

/**
 * RDP at `order` of one step of the Poisson-subsampled Gaussian mechanism:
 * each record is included independently with probability `samplingRate`,
 * and Gaussian noise of std `noiseMultiplier`·sensitivity is added to the sum
 * (add/remove-one adjacency). Mironov, Talwar, Zhang 2019.
 *
 * Special cases: q = 0 → 0; z = 0 or α = ∞ → ∞; q = 1 → α/(2z²).
 *
 * @param series how fractional orders are summed; see {@link FractionalSeries}.
 */
export function rdpSampledGaussian(
  samplingRate: number,
  noiseMultiplier: number,
  order: number,
  series: FractionalSeries = 'absolute',
): number {
  const q = samplingRate;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
  checkNoiseMultiplier(noiseMultiplier);
  checkOrder(order);
  if (q === 0) return 0;
  if (noiseMultiplier === 0 || order === Infinity) return Infinity;
  if (noiseMultiplier === Infinity) return 0;
  if (q === 1) return order / (2 * noiseMultiplier * noiseMultiplier);
  const logA = Number.isInteger(order)
    ? logAInt(q, noiseMultiplier, order)
    : logAFrac(q, noiseMultiplier, order, series);
  return logA / (order - 1);
}

/** One homogeneous stretch of training: `steps` rounds of the sampled Gaussian. */
export interface RoundSpec {
  /** Noise std divided by the L2 sensitivity (clip norm), z. */
  noiseMultiplier: number;
  /** Poisson sampling probability q ∈ [0, 1]; 1 = every client every round. */
  samplingRate: number;
  /** Number of rounds (non-negative integer). */
  steps: number;
}

/**
 * RDP at each order of the composition of heterogeneous rounds:
 * Σ_rounds steps·ε_{q,z}(α) (Mironov 2017, Prop. 1).
 *
 * @param orders defaults to {@link DEFAULT_RDP_ORDERS} (dp-accounting's grid).
 * @param series see {@link FractionalSeries}; default `'absolute'`.
 * @returns one RDP value per order (possibly +∞).
 */
export function composeRdp(
  rounds: readonly RoundSpec[],
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
  series: FractionalSeries = 'absolute',
): number[] {
  checkOrders(orders);
  const total = orders.map(() => 0);
  for (const r of rounds) {
    if (!Number.isSafeInteger(r.steps) || r.steps < 0) {
      throw new RangeError(`steps must be a non-negative integer, got ${r.steps}`);
    }
    if (r.steps === 0) continue;
    for (let k = 0; k < orders.length; k++) {
      total[k] = total[k]! + r.steps * rdpSampledGaussian(r.samplingRate, r.noiseMultiplier, orders[k]!, series);
    }
  }
  return total;
}
