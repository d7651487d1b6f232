/**
 * Privacy-loss-distribution (PLD) accounting of the Gaussian and the
 * Poisson-subsampled Gaussian mechanism under add/remove-one adjacency: a
 * tighter (ε, δ) than RDP for the same schedule, and still an upper bound.
 *
 * Follows Google dp-accounting (python/dp_accounting/dp_accounting/pld/:
 * `PLDAccountant`, `from_gaussian_mechanism`, `create_pmf_pessimistic_connect_dots_fixed_gap`,
 * `self_convolve`, `_get_epsilon_for_delta`) and its sources; an independent
 * TypeScript rewrite, not a port:
 *
 * - **Mechanism** (noise multiplier z, sampling rate q; unit sensitivity and
 *   noise N(0, z²), i.e. μ = 1/z). The privacy profile δ(ε) of each direction
 *   is evaluated exactly from the Gaussian's (Balle & Wang 2018, Thm. 8)
 *   δ_G(a) = Φ(μ/2 − a/μ) − e^a·Φ(−μ/2 − a/μ):
 *   - remove (P = (1−q)·N(0,1) + q·N(−μ,1), Q = N(0,1)):
 *     δ(ε) = q·δ_G(log(1 + (e^ε − 1)/q)) for ε > log(1−q), else 1 − e^ε;
 *   - add (P = N(0,1), Q = (1−q)·N(0,1) + q·N(μ,1)):
 *     δ(ε) = A·δ_G(ε + log q − log A) with A = 1 − (1−q)e^ε, for ε < −log(1−q), else 0.
 *   (The privacy-amplification identities behind dp-accounting's
 *   `GaussianPrivacyLoss` with `sampling_prob`; for q = 1 both are δ_G.)
 *   The two directions are composed separately and the larger ε (δ) is
 *   reported, as dp-accounting's `PrivacyLossDistribution` does: a neighbouring
 *   pair differs the same way in every round.
 * - **Discretisation**: each mechanism's PLD is replaced by the pessimistic
 *   "connect-the-dots" PLD (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022,
 *   "Connect the Dots: Tighter Discrete Approximations of Privacy Loss
 *   Distributions", PETS, arXiv:2207.04380, Algorithm 1) on the grid
 *   {k·h : k_lo ≤ k ≤ k_hi} plus +∞: its δ̃ equals δ at the grid points and
 *   interpolates linearly in e^ε between them. δ(ε) is convex in e^ε, so
 *   δ̃ ≥ δ everywhere: the discrete PLD dominates the real one, and domination
 *   survives composition (it is a post-processing order). Any grid gives an
 *   upper bound; the grid only decides how tight. The grid spans the losses
 *   of the noise's central 1 − e^{−50} mass (dp-accounting's
 *   `log_mass_truncation_bound` = −50); what lies beyond is +∞ or covered by
 *   the chord from (e^ε = 0, δ = 1).
 * - **Interval h**: the finest of `valueDiscretizationInterval` (default
 *   1e-4, dp-accounting's `PLDAccountant` default) and W / `maxGridPoints`,
 *   where W is the width of the composed loss range (below). Long or noisy
 *   schedules get a coarser h; the result stays an upper bound.
 * - **Composition** is convolution of the discretised PLDs, done with one FFT
 *   per distinct (q, z) (z rounded down and q up to 16 significant bits
 *   first — pessimistic, as the profile is monotone in both — so rounds that
 *   differ only by floating-point noise share one): the transform is raised
 *   to the power `steps` (as dp-accounting's `self_convolve`), transforms are
 *   multiplied, and one inverse FFT gives the composed PLD. Rounds with
 *   q = 1 are folded exactly into one Gaussian first (Gaussians compose to the Gaussian with
 *   μ² = Σ μᵢ², Dong, Roth, Su 2019). The FFT window is cut with a Chernoff
 *   bound on the composed loss, at tail mass `tailMassTruncation` (1e-15): the
 *   mass above the window — which a cyclic convolution would wrap onto small
 *   losses — is bounded by that Chernoff bound and added to the mass at +∞;
 *   mass below the window wraps onto large losses, which only overstates δ.
 *   Negative round-off after the inverse FFT is zeroed and its total added to
 *   the mass at +∞ as well. The last few composed schedules are kept (the
 *   keyholder prices one ledger several times per release).
 * - **Queries**: δ(ε) = m_∞ + Σ_{ℓ>ε} p_ℓ·(1 − e^{ε−ℓ}) and its inverse ε(δ).
 *   The round-off allowance in m_∞ grows with the grid and the number of
 *   rounds (≈ 1e-13 after 1,000 rounds on 2^16 points), so ε(δ) is meaningful
 *   for δ ≳ 1e-11 and +∞ once δ < m_∞: a refusal, never an under-count.
 *
 * Not covered: replace-one adjacency with q < 1 (the keyholder refuses
 * Poisson sampling under it and accounts replace-one as add/remove with
 * doubled sensitivity, i.e. halved z).
 *
 * @module
 */

import { fft, nextPowerOfTwo } from './fft.js';
import { logAdd } from './log-space.js';
import type { RoundSpec } from './rdp.js';
import { logNormalCdf } from './special-functions.js';

/** The two accountants of this package: Rényi DP (`computeEpsilon`) or privacy loss distributions (`computeEpsilonPld`). */
export type Accountant = 'rdp' | 'pld';

/** Default finest discretisation interval of privacy losses, in nats (dp-accounting's `PLDAccountant` default). */
export const DEFAULT_PLD_DISCRETIZATION_INTERVAL = 1e-4;
/**
 * Default largest composed grid; the interval is coarsened to fit (the FFT
 * size is the next power of two). 2^16 keeps a 1,000-round query in tens of
 * milliseconds; against 2^18 it moved ε by < 3e-5 on the schedules of the
 * tests (connect-the-dots stays tight on coarse grids).
 */
export const DEFAULT_PLD_MAX_GRID_POINTS = 2 ** 16;
/** Default bound on the mass the composition window may cut off (moved to +∞). */
export const DEFAULT_PLD_TAIL_MASS_TRUNCATION = 1e-15;

/** Options of the PLD accountant; every field has a default. */
export interface PldOptions {
  /** Finest interval h of the privacy-loss grid, nats; default {@link DEFAULT_PLD_DISCRETIZATION_INTERVAL}. */
  valueDiscretizationInterval?: number;
  /** Largest number of grid points of the composed PLD; default {@link DEFAULT_PLD_MAX_GRID_POINTS}. */
  maxGridPoints?: number;
  /** Largest probability mass the composition may move to +∞ by truncation; default {@link DEFAULT_PLD_TAIL_MASS_TRUNCATION}. */
  tailMassTruncation?: number;
}

/** A discrete privacy loss distribution: mass `probs[i]` at loss (lower + i)·h, and `infinityMass` at +∞. */
interface Pmf {
  lower: number;
  probs: Float64Array;
  infinityMass: number;
}

type Direction = 'remove' | 'add';

/** One composed mechanism: `steps` rounds of the sampled Gaussian with μ = 1/z. */
interface Component {
  samplingRate: number;
  mu: number;
  steps: number;
}

/** log Φ(−c) = −50 − log 2: the noise mass each grid leaves outside, as dp-accounting's truncation bound −50. */
const TRUNCATION_QUANTILE = ((): number => {
  const target = -50 - Math.LN2;
  let lo = 0;
  let hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (logNormalCdf(-mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
})();

/**
 * δ_G(a) = Φ(μ/2 − a/μ) − e^a·Φ(−μ/2 − a/μ): the hockey-stick divergence at
 * e^a of N(0,1) from N(μ,1), for every real a (Balle & Wang 2018, Thm. 8),
 * subtracted in log space.
 */
function gaussianHockeyStick(a: number, mu: number): number {
  const x = logNormalCdf(mu / 2 - a / mu);
  const y = a + logNormalCdf(-mu / 2 - a / mu);
  if (!(y < x)) return 0;
  return Math.min(1, Math.exp(x) * -Math.expm1(y - x));
}

/** Exact δ(ε) of one step in one direction (module comment). */
function stepDelta(epsilon: number, q: number, mu: number, direction: Direction): number {
  if (q === 1) return gaussianHockeyStick(epsilon, mu);
  if (direction === 'remove') {
    if (epsilon <= Math.log1p(-q)) return -Math.expm1(epsilon);
    // log(e^ε − (1 − q)), kept accurate on both sides of ε = 0.
    const logShifted = epsilon > 0 ? epsilon + Math.log1p(-(1 - q) * Math.exp(-epsilon)) : Math.log(q + Math.expm1(epsilon));
    return Math.min(1, q * gaussianHockeyStick(logShifted - Math.log(q), mu));
  }
  if (epsilon >= -Math.log1p(-q)) return 0;
  const a = -Math.expm1(epsilon + Math.log1p(-q)); // 1 − (1 − q)e^ε
  return Math.min(1, a * gaussianHockeyStick(epsilon + Math.log(q) - Math.log(a), mu));
}

/** log(1 − q + q·e^b). */
function logMix(q: number, b: number): number {
  return q === 1 ? b : logAdd(Math.log1p(-q), Math.log(q) + b);
}

/**
 * Losses [lowest, highest] at the ends of the noise's central mass: for
 * remove, x ∈ [−μ − c, c] (q < 1) or [−μ − c, −μ + c] (q = 1) under P; for
 * add, x ∈ [−c, c]; the loss is monotone in x.
 */
function lossRange(c: Component, direction: Direction): [number, number] {
  const { samplingRate: q, mu } = c;
  const t = TRUNCATION_QUANTILE;
  if (direction === 'remove') {
    // ℓ(x) = log(1 − q + q·e^{−μx − μ²/2})
    const highest = logMix(q, mu * t + (mu * mu) / 2);
    const lowest = q === 1 ? (mu * mu) / 2 - mu * t : logMix(q, -mu * t - (mu * mu) / 2);
    return [lowest, highest];
  }
  // ℓ(x) = −log(1 − q + q·e^{μx − μ²/2}) for x ~ N(0, 1)
  return [-logMix(q, mu * t - (mu * mu) / 2), -logMix(q, -mu * t - (mu * mu) / 2)];
}

/**
 * The pessimistic connect-the-dots PMF of one step on the grid
 * {k·h : kLo ≤ k ≤ kHi} (Doroshenko et al. 2022, Algorithm 1, with the
 * fixed-gap formulas of dp-accounting's `create_pmf_pessimistic_connect_dots_fixed_gap`).
 */
function connectTheDots(c: Component, direction: Direction, h: number): Pmf {
  const [lowest, highest] = lossRange(c, direction);
  const kLo = Math.floor(lowest / h);
  const kHi = Math.max(kLo, Math.ceil(highest / h));
  const n = kHi - kLo + 1;
  const deltas = new Float64Array(n);
  let previous = 1;
  for (let i = 0; i < n; i++) {
    // Round-off may break monotonicity by ~1e-16; δ is non-increasing in ε.
    const d = Math.min(previous, Math.max(0, stepDelta((kLo + i) * h, c.samplingRate, c.mu, direction)));
    deltas[i] = d;
    previous = d;
  }
  const probs = new Float64Array(n);
  if (n === 1) {
    probs[0] = 1 - deltas[0]!;
    return { lower: kLo, probs, infinityMass: deltas[0]! };
  }
  const em1 = Math.expm1(h);
  const eh = Math.exp(h);
  probs[0] = 1 - deltas[0]! + (deltas[1]! - deltas[0]!) / em1;
  for (let i = 1; i < n - 1; i++) {
    probs[i] = (deltas[i + 1]! - deltas[i]! - eh * (deltas[i]! - deltas[i - 1]!)) / em1;
  }
  probs[n - 1] = (deltas[n - 1]! - deltas[n - 2]!) / Math.expm1(-h);
  for (let i = 0; i < n; i++) if (!(probs[i]! > 0)) probs[i] = 0;
  return { lower: kLo, probs, infinityMass: deltas[n - 1]! };
}

/** log E[e^{t·ℓ}] over the finite part of `pmf` (a sub-probability), ℓ = (lower + i)·h. */
function logMgf(pmf: Pmf, h: number, t: number): number {
  const { probs, lower } = pmf;
  // t·ℓ is monotone in ℓ: its largest value is at the first or last non-zero mass.
  let first = 0;
  while (first < probs.length && !(probs[first]! > 0)) first++;
  if (first === probs.length) return -Infinity;
  let last = probs.length - 1;
  while (!(probs[last]! > 0)) last--;
  const max = t * (lower + (t > 0 ? last : first)) * h;
  // e^{t·ℓ_i − max} by a running product, re-anchored every 256 steps to keep its error at a few
  // ulps; directly when one step's factor e^{t·h} is far from 1 (it could overflow).
  const stride = Math.abs(t * h) < 1 ? 256 : 1;
  const factor = Math.exp(t * h);
  let sum = 0;
  let term = 0;
  for (let i = first; i <= last; i++) {
    term = (i - first) % stride === 0 ? Math.exp(t * (lower + i) * h - max) : term * factor;
    sum += probs[i]! * term;
  }
  return max + Math.log(sum);
}

/** Chernoff exponents t (nats⁻¹) tried for the composition window: 4 per decade, 1e-4 … 1e4. */
const CHERNOFF_ORDERS = Array.from({ length: 33 }, (_, i) => 10 ** (-4 + i / 4));

interface Parts {
  component: Component;
  pmf: Pmf;
}

/** Σ steps·log E[e^{tℓ}] of the composed loss. */
function composedLogMgf(parts: readonly Parts[], h: number, t: number): number {
  let s = 0;
  for (const { component, pmf } of parts) s += component.steps * logMgf(pmf, h, t);
  return s;
}

/**
 * Chernoff bounds on the composed loss L (finite part), given its log-MGF
 * K(t) = log E[e^{tL}]: the smallest `highest` with P(L ≥ highest) ≤ τ/2 and
 * the largest `lowest` with P(L ≤ lowest) ≤ τ/2 over the exponents `orders`
 * (as dp-accounting's `compute_self_convolve_bounds`), and the best exponents.
 */
function chernoffBounds(
  logMgfOfSum: (t: number) => number,
  tail: number,
  orders: readonly number[],
): { lowest: number; highest: number; tHigh: number; tLow: number } {
  const logBudget = Math.log(2 / tail);
  let highest = Infinity;
  let lowest = -Infinity;
  let tHigh = orders[0]!;
  let tLow = orders[0]!;
  for (const t of orders) {
    const up = (logMgfOfSum(t) + logBudget) / t;
    if (Number.isFinite(up) && up < highest) {
      highest = up;
      tHigh = t;
    }
    const down = -(logMgfOfSum(-t) + logBudget) / t;
    if (Number.isFinite(down) && down > lowest) {
      lowest = down;
      tLow = t;
    }
  }
  return { lowest, highest, tHigh, tLow };
}

/** Width, in nats, of the loss range the composition of `components` must cover in `direction`. */
function composedWidth(components: readonly Component[], direction: Direction, tail: number): { width: number; tHigh: number; tLow: number } {
  // A coarse pass (≤ 4,096 points per mechanism, each on its own grid) is enough to place the window.
  const parts = components.map((component) => {
    const [lowest, highest] = lossRange(component, direction);
    const h = Math.max((highest - lowest) / 4096, 1e-12);
    return { steps: component.steps, h, pmf: connectTheDots(component, direction, h) };
  });
  let lo = 0;
  let hi = 0;
  for (const { steps, h, pmf } of parts) {
    lo += steps * pmf.lower * h;
    hi += steps * (pmf.lower + pmf.probs.length - 1) * h;
  }
  if (parts.length === 1 && parts[0]!.steps === 1) return { width: hi - lo, tHigh: 1, tLow: 1 };
  const bounds = chernoffBounds(
    (t) => parts.reduce((sum, { steps, h, pmf }) => sum + steps * logMgf(pmf, h, t), 0),
    tail,
    CHERNOFF_ORDERS,
  );
  return { width: Math.min(hi, bounds.highest) - Math.max(lo, bounds.lowest), tHigh: bounds.tHigh, tLow: bounds.tLow };
}

/**
 * The composition of `components` in one direction on the grid of interval h
 * (module comment), or the number of grid points it would need when that is
 * more than `maxPoints` (the coarse estimate of the range was too small).
 */
function composeDirection(
  components: readonly Component[],
  direction: Direction,
  h: number,
  tail: number,
  orders: readonly number[],
  maxPoints: number,
): Pmf | number {
  const parts: Parts[] = components.map((component) => ({ component, pmf: connectTheDots(component, direction, h) }));
  if (parts.length === 1 && parts[0]!.component.steps === 1) return parts[0]!.pmf;

  // Window [sLo, sHi] of Σ (index within each PMF), from Chernoff bounds with the fine PMFs.
  let offset = 0; // Σ steps·lower
  let maxIndex = 0; // Σ steps·(length − 1)
  for (const { component, pmf } of parts) {
    offset += component.steps * pmf.lower;
    maxIndex += component.steps * (pmf.probs.length - 1);
  }
  const window = chernoffBounds((t) => composedLogMgf(parts, h, t), tail, orders);
  const sLo = Math.max(0, Math.min(maxIndex, Math.ceil(window.lowest / h - offset)));
  const sHi = Math.max(sLo, Math.min(maxIndex, Math.floor(window.highest / h - offset)));
  if (sHi - sLo + 1 > maxPoints) return sHi - sLo + 1;
  const size = nextPowerOfTwo(sHi - sLo + 1);
  // The mass that can wrap from above the window onto small losses: P(S ≥ sLo + size).
  let wrapped = 0;
  if (sLo + size <= maxIndex) {
    const a = (sLo + size + offset) * h;
    let logWrapped = 0; // the trivial bound P ≤ 1
    for (const t of orders) {
      const exponent = composedLogMgf(parts, h, t) - t * a;
      if (exponent < logWrapped) logWrapped = exponent; // NaN (∞ − ∞) never wins
    }
    wrapped = Math.exp(logWrapped);
  }

  const accRe = new Float64Array(size);
  const accIm = new Float64Array(size);
  accRe.fill(1);
  let logFinite = 0; // Σ steps·log(1 − m_∞)
  for (const { component, pmf } of parts) {
    const re = new Float64Array(size);
    const im = new Float64Array(size);
    const { probs } = pmf;
    for (let j = 0; j < probs.length; j++) re[j % size] = re[j % size]! + probs[j]!;
    fft(re, im);
    const steps = component.steps;
    // Real input: X_{N−k} = conj(X_k), so only k ≤ N/2 is raised to the power; the rest mirrors it.
    const halfSize = size >> 1;
    for (let k = 0; k <= halfSize && k < size; k++) {
      // X^steps by binary exponentiation (cheaper than polar form, error ≈ 2·log₂(steps) roundings).
      let pr = 1;
      let pi = 0;
      let br = re[k]!;
      let bi = im[k]!;
      for (let e = steps; e > 0; ) {
        if (e & 1) {
          const t = pr * br - pi * bi;
          pi = pr * bi + pi * br;
          pr = t;
        }
        e = Math.floor(e / 2);
        if (e === 0) break;
        const t = br * br - bi * bi;
        bi = 2 * br * bi;
        br = t;
        // |X| ≤ 1 (a sub-probability's transform): once the base underflows, so does the rest.
        if (br * br + bi * bi < 1e-300) {
          br = 0;
          bi = 0;
        }
      }
      const ar = accRe[k]!;
      const ai = accIm[k]!;
      accRe[k] = ar * pr - ai * pi;
      accIm[k] = ar * pi + ai * pr;
      if (k > 0 && k < size - k) {
        accRe[size - k] = accRe[k]!;
        accIm[size - k] = -accIm[k]!;
      }
    }
    logFinite += steps * Math.log1p(-pmf.infinityMass);
  }
  fft(accRe, accIm, true);

  // Bin s ∈ [sLo, sLo + size) of the sum sits at s mod size of the cyclic result.
  const probs = new Float64Array(size);
  let roundOff = 0;
  for (let i = 0; i < size; i++) {
    const v = accRe[(sLo + i) % size]!;
    if (v > 0) probs[i] = v;
    else roundOff -= v;
  }
  const infinityMass = Math.min(1, -Math.expm1(logFinite) + wrapped + roundOff);
  return { lower: offset + sLo, probs, infinityMass };
}

/** δ(ε) of a discrete PLD: m_∞ + Σ_{ℓ>ε} p_ℓ·(1 − e^{ε−ℓ}). */
function pmfDelta(pmf: Pmf, h: number, epsilon: number): number {
  let delta = pmf.infinityMass;
  const { probs, lower } = pmf;
  for (let i = probs.length - 1; i >= 0; i--) {
    const loss = (lower + i) * h;
    if (loss <= epsilon) break;
    const p = probs[i]!;
    if (p > 0) delta += p * -Math.expm1(epsilon - loss);
  }
  return Math.min(1, delta);
}

/** Smallest ε ≥ 0 with δ(ε) ≤ `delta` (dp-accounting `_get_epsilon_for_delta`: scan down from the largest loss). */
function pmfEpsilon(pmf: Pmf, h: number, delta: number): number {
  if (pmf.infinityMass > delta) return Infinity;
  let massUpper = pmf.infinityMass; // m_∞ + Σ_{ℓ>ε} p_ℓ
  let massLower = 0; // Σ_{ℓ>ε} p_ℓ·e^{−ℓ}
  const { probs, lower } = pmf;
  for (let i = probs.length - 1; i >= 0; i--) {
    const p = probs[i]!;
    if (p === 0) continue;
    const loss = (lower + i) * h;
    // δ(ε) = massUpper − e^ε·massLower on the current stretch: if its root is ≥ this loss, it is the answer.
    if (massUpper > delta && massLower > 0 && Math.log((massUpper - delta) / massLower) >= loss) break;
    massUpper += p;
    massLower += p * Math.exp(-loss);
    if (massUpper >= delta && massLower === 0) return Math.max(0, loss);
  }
  if (massUpper <= massLower + delta) return 0;
  return Math.max(0, Math.log((massUpper - delta) / massLower));
}

/**
 * The composed privacy loss distribution of a schedule (both directions).
 * Create it with {@link composePld}; query it with
 * {@link PrivacyLossDistribution.epsilonForDelta} and
 * {@link PrivacyLossDistribution.deltaForEpsilon}.
 */
export class PrivacyLossDistribution {
  /** @internal */
  constructor(
    private readonly remove: Pmf,
    private readonly add: Pmf | undefined,
    /** Interval h of the loss grid actually used, nats. */
    readonly valueDiscretizationInterval: number,
  ) {}

  /** Number of finite grid points of the larger direction. */
  get gridPoints(): number {
    return Math.max(this.remove.probs.length, this.add?.probs.length ?? 0);
  }

  /** δ(ε) ∈ [0, 1]: an upper bound on the hockey-stick divergence at ε, the larger of both directions. */
  deltaForEpsilon(epsilon: number): number {
    if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
    const h = this.valueDiscretizationInterval;
    const d = Math.max(pmfDelta(this.remove, h, epsilon), this.add ? pmfDelta(this.add, h, epsilon) : 0);
    return Number.isNaN(d) ? 1 : d; // fail safe: no numerical accident may under-charge
  }

  /** Smallest ε ≥ 0 (possibly +∞) such that the schedule is (ε, δ)-DP by this PLD, the larger of both directions. */
  epsilonForDelta(delta: number): number {
    if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
    const h = this.valueDiscretizationInterval;
    const e = Math.max(pmfEpsilon(this.remove, h, delta), this.add ? pmfEpsilon(this.add, h, delta) : 0);
    return Number.isNaN(e) ? Infinity : e; // fail safe: no numerical accident may under-charge
  }
}

function checkOptions(opts: PldOptions): Required<PldOptions> {
  const h = opts.valueDiscretizationInterval ?? DEFAULT_PLD_DISCRETIZATION_INTERVAL;
  const maxGridPoints = opts.maxGridPoints ?? DEFAULT_PLD_MAX_GRID_POINTS;
  const tail = opts.tailMassTruncation ?? DEFAULT_PLD_TAIL_MASS_TRUNCATION;
  if (!(h > 0 && h < Infinity)) throw new RangeError(`valueDiscretizationInterval must be a positive finite number, got ${h}`);
  if (!(Number.isSafeInteger(maxGridPoints) && maxGridPoints >= 16)) throw new RangeError(`maxGridPoints must be an integer >= 16, got ${maxGridPoints}`);
  if (!(tail > 0 && tail < 1e-6)) throw new RangeError(`tailMassTruncation must be in (0, 1e-6), got ${tail}`);
  return { valueDiscretizationInterval: h, maxGridPoints, tailMassTruncation: tail };
}

/** Distinct mechanisms of a schedule; `null` when some round has no noise (ε = ∞). */
function componentsOf(rounds: readonly RoundSpec[]): Component[] | null {
  let gaussianMuSquared = 0; // q = 1 rounds, folded: Σ steps/z²
  const subsampled = new Map<string, Component>();
  for (const r of rounds) {
    const { samplingRate: q, noiseMultiplier: z, steps } = r;
    if (!Number.isSafeInteger(steps) || steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${steps}`);
    if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
    if (!(z >= 0) || Number.isNaN(z)) throw new RangeError(`noise multiplier must be >= 0, got ${z}`);
    if (steps === 0 || q === 0 || z === Infinity) continue;
    if (z === 0) return null;
    if (q === 1) {
      gaussianMuSquared += steps / (z * z);
      continue;
    }
    // Pessimistic merge: z rounded down and q up to 16 significant bits, so charges that differ
    // only in their last bits (floating-point noise) share one FFT. The privacy profile is
    // monotone in both, so the merged rounds are at least as costly as the real ones.
    const zMerged = roundToBits(z, 'down');
    const qMerged = Math.min(1, roundToBits(q, 'up'));
    const key = `${zMerged}/${qMerged}`;
    const existing = subsampled.get(key);
    if (existing) existing.steps += steps;
    else subsampled.set(key, { samplingRate: qMerged, mu: 1 / zMerged, steps });
  }
  // Canonical order: the result does not depend on the order of the rounds, not even in its last bits.
  const components = [...subsampled.values()].sort((a, b) => a.samplingRate - b.samplingRate || a.mu - b.mu);
  if (gaussianMuSquared > 0) components.push({ samplingRate: 1, mu: Math.sqrt(gaussianMuSquared), steps: 1 });
  for (const c of components) {
    const [lowest, highest] = lossRange(c, 'remove');
    if (!Number.isFinite(lowest) || !Number.isFinite(highest) || c.steps * highest > 1e12) return null;
  }
  return components;
}

/** x rounded to 16 significant bits in `direction` (exact: scaling by a power of two). */
function roundToBits(x: number, direction: 'down' | 'up'): number {
  const scale = 2 ** (16 - Math.floor(Math.log2(x)));
  if (!Number.isFinite(scale) || scale === 0) return x;
  return (direction === 'down' ? Math.floor(x * scale) : Math.ceil(x * scale)) / scale;
}

/**
 * Recently composed PLDs by canonical schedule and options. The keyholder
 * prices the same ledger several times per release (and on every metrics
 * scrape); each entry holds a few MB, so only a handful are kept.
 */
const recent = new Map<string, PrivacyLossDistribution>();
const RECENT_ENTRIES = 8;

const NO_LOSS: Pmf = { lower: 0, probs: Float64Array.of(1), infinityMass: 0 };
const INFINITE_LOSS: Pmf = { lower: 0, probs: Float64Array.of(0), infinityMass: 1 };

/**
 * The PLD of the composition of the given (heterogeneous) rounds of the
 * Poisson-subsampled Gaussian mechanism (add/remove-one adjacency). Rounds
 * with the same (noise multiplier, sampling rate) — after rounding z down and
 * q up to 16 significant bits, a pessimistic merge — are composed by one FFT
 * raised to their count; q = 1 rounds are folded exactly into one Gaussian.
 * Each distinct (z, q) costs one discretisation and one FFT, so a schedule
 * of thousands of genuinely different rounds is slow; identical rounds are not.
 *
 * Special cases: no rounds, q = 0 or z = ∞ add nothing; z = 0 (or a loss
 * range beyond 1e12 nats) gives ε = ∞.
 */
export function composePld(rounds: readonly RoundSpec[], opts: PldOptions = {}): PrivacyLossDistribution {
  const { valueDiscretizationInterval: finest, maxGridPoints, tailMassTruncation: tail } = checkOptions(opts);
  const components = componentsOf(rounds);
  if (components === null) return new PrivacyLossDistribution(INFINITE_LOSS, undefined, finest);
  if (components.length === 0) return new PrivacyLossDistribution(NO_LOSS, undefined, finest);
  const key = JSON.stringify([finest, maxGridPoints, tail, components]);
  const cached = recent.get(key);
  if (cached) {
    recent.delete(key);
    recent.set(key, cached);
    return cached;
  }
  const pld = composeComponents(components, finest, maxGridPoints, tail);
  recent.set(key, pld);
  if (recent.size > RECENT_ENTRIES) recent.delete(recent.keys().next().value!);
  return pld;
}

function composeComponents(components: readonly Component[], finest: number, maxGridPoints: number, tail: number): PrivacyLossDistribution {
  const symmetric = components.every((c) => c.samplingRate === 1);
  const directions: Direction[] = symmetric ? ['remove'] : ['remove', 'add'];

  // h: the finest interval whose composed grid fits maxGridPoints.
  let width = 0;
  const orderHints: number[] = [];
  for (const direction of directions) {
    const w = composedWidth(components, direction, tail);
    width = Math.max(width, w.width);
    orderHints.push(w.tHigh, w.tLow);
  }
  let h = Math.max(finest, width / maxGridPoints);
  // Fine Chernoff bounds at the orders that were best on the coarse grid, and their neighbours.
  const orders = [...new Set(orderHints.flatMap((t) => [0.71, 1, 1.41].map((f) => t * f)))];

  // The fine window may exceed the coarse estimate; past 4× the grid budget, coarsen and retry.
  for (;;) {
    const composed = directions.map((d) => composeDirection(components, d, h, tail, orders, 4 * maxGridPoints));
    const needed = Math.max(...composed.map((c) => (typeof c === 'number' ? c : 0)));
    if (needed === 0) return new PrivacyLossDistribution(composed[0] as Pmf, composed[1] as Pmf | undefined, h);
    h *= (1.05 * needed) / maxGridPoints;
  }
}

/** ε at δ of the given rounds by the PLD accountant, and the interval h used. */
export function computeEpsilonPld(
  rounds: readonly RoundSpec[],
  delta: number,
  opts: PldOptions = {},
): { epsilon: number; valueDiscretizationInterval: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  const pld = composePld(rounds, opts);
  return { epsilon: pld.epsilonForDelta(delta), valueDiscretizationInterval: pld.valueDiscretizationInterval };
}

/** δ at ε of the given rounds by the PLD accountant, and the interval h used. */
export function computeDeltaPld(
  rounds: readonly RoundSpec[],
  epsilon: number,
  opts: PldOptions = {},
): { delta: number; valueDiscretizationInterval: number } {
  if (!(epsilon >= 0)) throw new RangeError(`epsilon must be >= 0, got ${epsilon}`);
  const pld = composePld(rounds, opts);
  return { delta: pld.deltaForEpsilon(epsilon), valueDiscretizationInterval: pld.valueDiscretizationInterval };
}
