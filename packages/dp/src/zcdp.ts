/**
 * Zero-concentrated DP (Bun & Steinke 2016) of the discrete Gaussian, and its
 * conversion to (ε, δ)-DP.
 *
 * - Adding discrete Gaussian noise N_Z(0, σ²) to an integer-valued query of L2
 *   sensitivity Δ is ρ-zCDP with ρ = Δ²/(2σ²) — the same as the continuous
 *   Gaussian (Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for
 *   Differential Privacy", arXiv:2004.00010, Thm. 4 / Prop. 5 for one
 *   dimension, Thm. 15 for vectors: ρ = ‖Δ‖₂²/(2σ²)).
 * - ρ-zCDP means RDP ε(α) = ρα for all α > 1; the tight conversion is
 *   CKS20 Cor. 13: δ = inf_{α>1} exp((α−1)(αρ − ε) + α·log(1 − 1/α))/(α − 1),
 *   the improved RDP conversion minimised over continuous α. The minimiser is
 *   the root of (2α − 1)ρ − ε + log(1 − 1/α) = 0, whose left side is
 *   increasing in α, so bisection finds it.
 *
 * @module
 */

function checkRho(rho: number): void {
  if (!(rho >= 0 && rho < Infinity)) throw new RangeError(`rho must be a finite number >= 0, got ${rho}`);
}

/**
 * zCDP parameter ρ = Δ²/(2σ²) of the discrete (or continuous) Gaussian
 * mechanism with noise std `sigma` on a query of L2 sensitivity `sensitivity`
 * (CKS20 Thm. 4, Thm. 15).
 */
export function zcdpDiscreteGaussian(sensitivity: number, sigma: number): number {
  if (!(sensitivity >= 0 && sensitivity < Infinity)) throw new RangeError(`sensitivity must be finite and >= 0, got ${sensitivity}`);
  if (!(sigma > 0)) throw new RangeError(`sigma must be > 0, got ${sigma}`);
  return (sensitivity * sensitivity) / (2 * sigma * sigma);
}

/**
 * Smallest δ such that ρ-zCDP implies (ε, δ)-DP (CKS20 Cor. 13).
 */
export function deltaFromZcdp(rho: number, epsilon: number): number {
  checkRho(rho);
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  if (rho === 0) return 0;
  if (epsilon === Infinity) return 0;
  // Every α > 1 gives a valid bound; α ≥ 1.01 avoids the instability at α → 1
  // (as CKS20's reference code does). The optimum is ≥ (1 + ε/ρ)/2.
  let lo = 1.01;
  let hi = (epsilon + 1) / (2 * rho) + 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    const derivative = (2 * mid - 1) * rho - epsilon + Math.log1p(-1 / mid);
    if (derivative < 0) lo = mid;
    else hi = mid;
  }
  const a = (lo + hi) / 2;
  const logDelta = (a - 1) * (a * rho - epsilon) + a * Math.log1p(-1 / a) - Math.log(a - 1);
  return Math.min(1, Math.exp(logDelta));
}

/**
 * Smallest ε (to relative 1e-12, rounded up) such that ρ-zCDP implies
 * (ε, δ)-DP (CKS20 Cor. 13, inverted by bisection). Never larger than the
 * classic ρ + 2√(ρ·log(1/δ)) of Bun & Steinke 2016 (Prop. 1.3).
 *
 * @param delta in (0, 1).
 */
export function epsilonFromZcdp(rho: number, delta: number): number {
  checkRho(rho);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  if (rho === 0) return 0;
  let lo = 0;
  let hi = rho + 2 * Math.sqrt(rho * Math.log(1 / delta));
  if (deltaFromZcdp(rho, lo) <= delta) return 0;
  // Invariant: δ(lo) > delta ≥ δ(hi).
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (deltaFromZcdp(rho, mid) <= delta) hi = mid;
    else lo = mid;
  }
  return hi;
}
