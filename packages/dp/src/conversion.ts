/**
 * Conversion of an RDP curve (ε_RDP(α) at a list of orders) to (ε, δ)-DP.
 *
 * - `classic`: Mironov 2017 ("Rényi Differential Privacy", Prop. 3):
 *   ε = ε_RDP(α) + log(1/δ)/(α − 1), equivalently δ = exp((α − 1)(ε_RDP(α) − ε)).
 * - `improved` (default): Balle, Barthe, Gaboardi, Hsu, Sato 2020 ("Hypothesis
 *   testing interpretations and Rényi DP", Thm. 21) = Canonne, Kamath, Steinke
 *   2020 (arXiv:2004.00010, Prop. 12):
 *   ε = ε_RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1).
 *   As in Google dp-accounting's `compute_epsilon` / `compute_delta`, it is
 *   combined with the KL-divergence bound δ ≤ √(1 − e^{−ε_RDP(α)}) (which
 *   gives ε = 0 when δ² > 1 − e^{−ε_RDP}), and the α-formula is only used for
 *   α > 1.01, where it is numerically stable.
 *
 * Each function minimises over the orders and reports the optimal one (the
 * first minimiser, as numpy's argmin does).
 *
 * @module
 */

import { composeRdp } from './rdp.js';
import type { FractionalSeries, RoundSpec } from './rdp.js';
import { DEFAULT_RDP_ORDERS, checkOrders } from './orders.js';

/** Which RDP → (ε, δ) conversion to use. */
export type Conversion = 'improved' | 'classic';

function checkCurve(rdp: readonly number[], orders: readonly number[]): void {
  checkOrders(orders);
  if (rdp.length !== orders.length) {
    throw new RangeError(`rdp and orders must have the same length (${rdp.length} vs ${orders.length})`);
  }
  for (const r of rdp) if (Number.isNaN(r)) throw new RangeError('rdp values must not be NaN');
}

function checkConversion(c: string): asserts c is Conversion {
  if (c !== 'improved' && c !== 'classic') throw new RangeError(`conversion must be 'improved' or 'classic', got '${c}'`);
}

/** ε at one order; +∞ where the order gives no bound. */
function epsilonAtOrder(r: number, a: number, delta: number, logDelta: number, conversion: Conversion): number {
  if (r < 0) return 0; // only reachable through numerical error; dp-accounting does the same
  if (conversion === 'classic') return r - logDelta / (a - 1);
  if (delta * delta + Math.expm1(-r) > 0) return 0; // KL bound: δ ≥ √(1 − e^{−KL}) ⇒ (0, δ)-DP
  if (a > 1.01) return r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
  return Infinity;
}

/** log δ at one order. */
function logDeltaAtOrder(r: number, a: number, epsilon: number, conversion: Conversion): number {
  if (r < 0 || r === 0) return -Infinity;
  if (conversion === 'classic') return (a - 1) * (r - epsilon);
  let logDelta = 0.5 * Math.log1p(-Math.exp(-r)); // KL bound
  if (a > 1.01) {
    const bound = (a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a);
    logDelta = Math.min(logDelta, bound);
  }
  return logDelta;
}

/**
 * Smallest ε over `orders` such that the RDP curve implies (ε, δ)-DP.
 *
 * @param delta in (0, 1).
 * @returns `{ epsilon, order }`: ε ≥ 0 (possibly +∞) and the optimal order.
 */
export function epsilonFromRdp(
  rdp: readonly number[],
  orders: readonly number[],
  delta: number,
  conversion: Conversion = 'improved',
): { epsilon: number; order: number } {
  checkCurve(rdp, orders);
  checkConversion(conversion);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  const logDelta = Math.log(delta);
  let best = Infinity;
  let bestOrder = orders[0]!;
  for (let k = 0; k < orders.length; k++) {
    const eps = epsilonAtOrder(rdp[k]!, orders[k]!, delta, logDelta, conversion);
    if (eps < best) {
      best = eps;
      bestOrder = orders[k]!;
    }
  }
  return { epsilon: Math.max(0, best), order: bestOrder };
}

/**
 * Smallest δ over `orders` such that the RDP curve implies (ε, δ)-DP.
 *
 * @param epsilon ≥ 0.
 * @returns `{ delta, order }` with δ ∈ [0, 1] and the optimal order.
 */
export function deltaFromRdp(
  rdp: readonly number[],
  orders: readonly number[],
  epsilon: number,
  conversion: Conversion = 'improved',
): { delta: number; order: number } {
  checkCurve(rdp, orders);
  checkConversion(conversion);
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  let best = Infinity;
  let bestOrder = orders[0]!;
  for (let k = 0; k < orders.length; k++) {
    const ld = logDeltaAtOrder(rdp[k]!, orders[k]!, epsilon, conversion);
    if (ld < best) {
      best = ld;
      bestOrder = orders[k]!;
    }
  }
  return { delta: Math.min(Math.exp(best), 1), order: bestOrder };
}

/** Options shared by {@link computeEpsilon} and {@link computeDelta}. */
export interface AccountingOptions {
  /** RDP orders; default {@link DEFAULT_RDP_ORDERS}. */
  orders?: readonly number[];
  /** Default `'improved'`. */
  conversion?: Conversion;
  /** How fractional orders are summed; default `'absolute'` (see {@link FractionalSeries}). */
  series?: FractionalSeries;
}

/** ε after the given (heterogeneous) rounds of the sampled Gaussian, at δ. */
export function computeEpsilon(
  rounds: readonly RoundSpec[],
  delta: number,
  opts: AccountingOptions = {},
): { epsilon: number; order: number } {
  const orders = opts.orders ?? DEFAULT_RDP_ORDERS;
  return epsilonFromRdp(composeRdp(rounds, orders, opts.series ?? 'absolute'), orders, delta, opts.conversion ?? 'improved');
}

/** δ after the given (heterogeneous) rounds of the sampled Gaussian, at ε. */
export function computeDelta(
  rounds: readonly RoundSpec[],
  epsilon: number,
  opts: AccountingOptions = {},
): { delta: number; order: number } {
  const orders = opts.orders ?? DEFAULT_RDP_ORDERS;
  return deltaFromRdp(composeRdp(rounds, orders, opts.series ?? 'absolute'), orders, epsilon, opts.conversion ?? 'improved');
}
