/**
 * Data-independent RDP accounting of PATE's vote aggregators (Papernot,
 * Song, Mironov, Raghunathan, Talwar, Erlingsson 2018, "Scalable Private
 * Learning with PATE", ICLR; reference implementation tensorflow/privacy
 * research/pate_2018/core.py).
 *
 * Every vote mechanism here is post-processing of Gaussian mechanisms on the
 * teachers' vote counts, so its RDP is the Gaussian's, α·Δ²/(2σ²) per step
 * (Mironov 2017, Prop. 7), whatever the histogram looks like:
 *  - noisy histogram: every count of every query with noise σ₂;
 *    Δ = the per-query histogram sensitivity of the vote shape;
 *  - GNMax: the argmax of each query's noisy counts (σ₂) — same RDP as the
 *    histogram it post-processes. With one-hot votes and replace-one
 *    adjacency Δ = √2, i.e. α/σ₂² per query: PATE 2018 Prop. 8,
 *    `rdp_data_independent_gaussian(sigma, orders)` in core.py;
 *  - Confident-GNMax: the threshold step adds σ₁ noise to each query's top
 *    count, which moves by at most 1 when one teacher is added, removed or
 *    changes its vote (Δ = 1, α/(2σ₁²) per query: core.py's
 *    `compute_rdp_data_independent_threshold`, "stability 1"), for all Q
 *    queries; then GNMax (σ₂) for the answered ones.
 *
 * One teacher votes on every query, so the Q per-query mechanisms compose:
 * RDP(α) = α/2 · (Q·Δ₁²/σ₁² + A·Δ₂²/σ₂²) with A answered queries. That is
 * exactly the RDP of ONE Gaussian mechanism of noise multiplier
 * z = (Q·Δ₁²/σ₁² + A·Δ₂²/σ₂²)^(−1/2) ({@link voteNoiseMultiplier}), which is
 * how a vote release enters a privacy ledger that composes Gaussians.
 *
 * Data-independent means: the bound holds for every vote histogram. PATE
 * 2018's data-dependent analysis (smooth sensitivity, Thm. 6 and Prop. 10)
 * is much tighter when teachers agree, but it is a function of the
 * noise-free histogram and must itself be privatised; it is not implemented
 * (docs/DISTILLATION.md).
 *
 * @module
 */

import { computeEpsilon, type AccountingOptions } from './conversion.js';

/** Shape of one teacher's votes on one query (proto VoteShape). */
export type VoteShapeName = 'one-hot' | 'top-k' | 'soft';

/** Neighbouring vote histograms: one teacher added or removed, or one teacher's votes replaced (PATE 2018's convention). */
export type VoteAdjacency = 'add-remove' | 'replace-one';

/** A vote round's release mechanism (proto VoteMechanism). */
export type VoteMechanismName = 'noisy-histogram' | 'gnmax' | 'confident-gnmax';

/**
 * L2 sensitivity of ONE query's vote histogram (K counts) when one teacher is
 * added or removed, or replaced:
 *  - one-hot: one count moves by 1 → 1; replaced: one −1 and one +1 → √2;
 *  - top-k (k ones): √k; replaced: at most k counts −1 and k counts +1 → √(2k);
 *  - soft labels (values ≥ 0, sum ≤ 1): ‖p‖₂ ≤ ‖p‖₁ ≤ 1 → 1; replaced:
 *    ‖p − p'‖₂² ≤ ‖p‖₂² + ‖p'‖₂² ≤ 2 for non-negative p, p' → √2.
 */
export function voteHistogramSensitivity(shape: VoteShapeName, adjacency: VoteAdjacency, topK = 1): number {
  if (shape === 'top-k' && !(Number.isSafeInteger(topK) && topK >= 1)) throw new RangeError(`top-k needs k >= 1, got ${topK}`);
  const perTeacher = shape === 'top-k' ? topK : 1; // squared L2 norm bound of one teacher's row
  return Math.sqrt(adjacency === 'replace-one' ? 2 * perTeacher : perTeacher);
}

/**
 * Sensitivity of one query's top count (the threshold step's input): every
 * count moves by at most 1 for every shape and both adjacencies, hence so
 * does their maximum.
 */
export const TOP_COUNT_SENSITIVITY = 1;

/** What one vote release is, for accounting: sigmas in votes, sensitivities per query. */
export interface VoteReleaseSpec {
  mechanism: VoteMechanismName;
  /** Q: queries voted on (all of them go through the threshold step of Confident-GNMax). */
  queries: number;
  /** A: queries answered by GNMax (Confident-GNMax); default Q, the worst case. Ignored by the other mechanisms. */
  answered?: number;
  /** σ₁: threshold noise (Confident-GNMax). */
  sigma1?: number;
  /** σ₂: noise of every count (histogram, GNMax). */
  sigma2: number;
  /** Per-query L2 sensitivity of the histogram ({@link voteHistogramSensitivity}). */
  histogramSensitivity: number;
  /** Per-query sensitivity of the top count; default {@link TOP_COUNT_SENSITIVITY}. */
  thresholdSensitivity?: number;
}

function positive(name: string, x: number | undefined): number {
  if (x === undefined || !(x > 0) || !Number.isFinite(x)) throw new RangeError(`${name} must be finite and > 0, got ${x}`);
  return x;
}

function count(name: string, x: number): number {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`${name} must be a non-negative integer, got ${x}`);
  return x;
}

/**
 * Σ Δ²/σ² of the release: its RDP is α/2 times this at every order α (the
 * Gaussian's, composed over queries and steps).
 */
export function voteRdpCoefficient(spec: VoteReleaseSpec): number {
  const queries = count('queries', spec.queries);
  const gnmax = (positive('histogramSensitivity', spec.histogramSensitivity) / positive('sigma2', spec.sigma2)) ** 2;
  switch (spec.mechanism) {
    case 'noisy-histogram':
    case 'gnmax':
      return queries * gnmax;
    case 'confident-gnmax': {
      const answered = count('answered', spec.answered ?? queries);
      if (answered > queries) throw new RangeError(`answered ${answered} exceeds queries ${queries}`);
      const threshold = ((spec.thresholdSensitivity ?? TOP_COUNT_SENSITIVITY) / positive('sigma1', spec.sigma1)) ** 2;
      return queries * threshold + answered * gnmax;
    }
    default:
      throw new RangeError(`unknown vote mechanism '${String(spec.mechanism)}'`);
  }
}

/** RDP of the release at each order: α/2 · Σ Δ²/σ² (data-independent). */
export function rdpVoteRelease(spec: VoteReleaseSpec, orders: readonly number[]): number[] {
  const c = voteRdpCoefficient(spec);
  return orders.map((a) => (a === Infinity ? Infinity : (a * c) / 2));
}

/**
 * The noise multiplier of the one Gaussian mechanism with the same RDP curve:
 * (Σ Δ²/σ²)^(−1/2). +∞ when nothing is released (Q = 0).
 */
export function voteNoiseMultiplier(spec: VoteReleaseSpec): number {
  const c = voteRdpCoefficient(spec);
  return c === 0 ? Infinity : 1 / Math.sqrt(c);
}

/** ε at δ of `steps` such releases (default 1), composed with RDP and converted as {@link computeEpsilon} does. */
export function computeVoteEpsilon(
  spec: VoteReleaseSpec,
  delta: number,
  opts: AccountingOptions & { steps?: number } = {},
): { epsilon: number; order: number; noiseMultiplier: number } {
  const z = voteNoiseMultiplier(spec);
  const { steps = 1, ...accounting } = opts;
  if (z === Infinity) return { epsilon: 0, order: (accounting.orders ?? [2])[0]!, noiseMultiplier: z };
  return { ...computeEpsilon([{ noiseMultiplier: z, samplingRate: 1, steps }], delta, accounting), noiseMultiplier: z };
}

/**
 * The orders of PATE 2018's analysis scripts (research/pate_2018/ICLR2018/
 * smooth_sensitivity_table.py): 2, 2.5, …, 100.5 and 100 log-spaced orders from
 * 100 to 500. For reproducing the paper's numbers; the ledger uses
 * dp-accounting's grid.
 */
export const PATE_2018_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 198 }, (_, i) => 2 + i * 0.5),
  ...Array.from({ length: 100 }, (_, i) => 10 ** (2 + (i * (Math.log10(500) - 2)) / 99)),
]);
