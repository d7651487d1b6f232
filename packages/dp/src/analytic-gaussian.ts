/**
 * The analytic Gaussian mechanism (Balle & Wang 2018, "Improving the Gaussian
 * Mechanism for Differential Privacy: Analytical Calibration and Optimal
 * Denoising", ICML, arXiv:1805.06530, Thm. 8): adding N(0, σ²) to a function
 * of L2 sensitivity Δ is (ε, δ)-DP if and only if
 *
 *   δ ≥ Φ(Δ/(2σ) − εσ/Δ) − e^ε·Φ(−Δ/(2σ) − εσ/Δ).
 *
 * Both terms are evaluated as log Φ (see special-functions.ts) and subtracted
 * in log space, so δ is accurate down to the smallest doubles.
 *
 * @module
 */

import { logNormalCdf } from './special-functions.js';

function checkSensitivity(s: number): void {
  if (!(s > 0 && s < Infinity)) throw new RangeError(`sensitivity must be a positive finite number, got ${s}`);
}

/** log δ(ε, σ, Δ); −∞ when δ underflows to 0. */
function logDelta(epsilon: number, sigma: number, sensitivity: number): number {
  const a = sensitivity / (2 * sigma);
  const b = (epsilon * sigma) / sensitivity;
  const x = logNormalCdf(a - b);
  const y = epsilon + logNormalCdf(-a - b);
  if (!(y < x)) return -Infinity;
  return x + Math.log1p(-Math.exp(y - x));
}

/**
 * Exact δ of the Gaussian mechanism with noise std `sigma` at `epsilon`
 * (Balle & Wang 2018, Thm. 8).
 *
 * @param epsilon ≥ 0.
 * @param sigma > 0 (σ = 0 gives δ = 1).
 * @param sensitivity L2 sensitivity Δ > 0, default 1.
 */
export function analyticGaussianDelta(epsilon: number, sigma: number, sensitivity = 1): number {
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  if (!(sigma >= 0)) throw new RangeError(`sigma must be >= 0, got ${sigma}`);
  checkSensitivity(sensitivity);
  if (sigma === 0) return 1;
  if (epsilon === Infinity || sigma === Infinity) return 0;
  return Math.min(1, Math.exp(logDelta(epsilon, sigma, sensitivity)));
}

/**
 * Smallest noise std σ such that the Gaussian mechanism is (ε, δ)-DP for L2
 * sensitivity Δ (Balle & Wang 2018, Algorithm 1, solved here by bisection on
 * log δ(σ), which is decreasing in σ). The returned σ satisfies δ(ε, σ) ≤ δ
 * and is within relative 1e-12 of the exact solution (it is the upper end of
 * the final bracket, so it errs on the private side).
 *
 * @param epsilon ≥ 0 (finite).
 * @param delta in (0, 1).
 * @param sensitivity Δ > 0, default 1.
 */
export function analyticGaussianSigma(epsilon: number, delta: number, sensitivity = 1): number {
  if (!(epsilon >= 0 && epsilon < Infinity)) throw new RangeError(`epsilon must be a finite number >= 0, got ${epsilon}`);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  checkSensitivity(sensitivity);
  const target = Math.log(delta);
  // The solution scales with Δ; solve for Δ = 1 and scale at the end.
  const ld = (s: number): number => logDelta(epsilon, s, 1);
  let lo = 1;
  let hi = 1;
  if (ld(1) > target) {
    while (ld(hi) > target) {
      lo = hi;
      hi *= 2;
      if (hi > 1e300) throw new RangeError('no finite sigma reaches this delta');
    }
  } else {
    while (ld(lo) <= target) {
      hi = lo;
      lo /= 2;
      if (lo < 1e-300) return hi * sensitivity;
    }
  }
  // Invariant: δ(lo) > target ≥ δ(hi).
  while (hi - lo > 1e-12 * hi) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (ld(mid) > target) lo = mid;
    else hi = mid;
  }
  // Scaling by Δ perturbs the last bits; nudge up so δ(ε, σ, Δ) ≤ δ holds as evaluated.
  let sigma = hi * sensitivity;
  for (let i = 0; i < 100 && analyticGaussianDelta(epsilon, sigma, sensitivity) > delta; i++) sigma *= 1 + 2 ** -45;
  return sigma;
}
