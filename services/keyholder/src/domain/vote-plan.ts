/**
 * What a vote round's release costs, from its configuration alone (the vote
 * counterpart of privacy-plan.ts; docs/DISTILLATION.md). The release is one
 * or two Gaussian mechanisms on the decrypted Q × K vote histogram:
 *  - every count gets discrete Gaussian noise σ₂ on a fine grid g₂ (noisy
 *    histogram, GNMax, and the answered queries of Confident-GNMax);
 *  - Confident-GNMax: each query's top count gets discrete Gaussian noise σ₁
 *    on a grid g₁ before the threshold.
 * As for gradient rounds, the sensitivities the accountant uses include one
 * teacher's CKKS encryption error (removing a teacher removes its error) and
 * the rounding to the grid; both are ~2^-10 of the vote sensitivity.
 * Accounting is data-independent (packages/dp pate.ts) and charged in full
 * before decrypting: GNMax over ALL Q queries, because the keyholder does not
 * know before decrypting how many will be answered, and because the range
 * check reads every query's σ₂-noised counts (docs/DISTILLATION.md).
 */
import { roundedL2Sensitivity, TOP_COUNT_SENSITIVITY, voteHistogramSensitivity, voteNoiseMultiplier, type VoteMechanismName, type VoteShapeName } from '@secagg/dp';
import type { CkksParams } from '@secagg/ckks';
import { VoteMechanism, VoteShape, type RoundConfig, type VoteRoundConfig } from '@secagg/proto';
import { BOUND_FAILURE_PROBABILITY, decryptionErrorBound, errorParamsOf, floodingMarginBits, perClientErrorL2 } from './flooding.js';
import type { NoisePlan } from './noise.js';
import type { AdjacencyName, RoundPrivacyPlan } from './privacy-plan.js';

/** The vote part of a vote round's plan. */
export interface VotePlan {
  mechanism: VoteMechanismName;
  shape: VoteShapeName;
  queries: number;
  classes: number;
  /** k of top-k votes (1 for the other shapes). */
  topK: number;
  /** T (Confident-GNMax), in votes. */
  threshold: number;
  /** σ₂ and g₂: noise of every count. */
  countNoise: NoisePlan;
  /** σ₁ and g₁: noise of each top count (Confident-GNMax; zero otherwise). */
  thresholdNoise: NoisePlan;
  /** Per-query L2 sensitivity of the histogram for the shape and adjacency (without CKKS and grid terms). */
  histogramSensitivityPerQuery: number;
}

/** As noise.ts: the grid sits 2^10 below sigma and below the per-value share of the sensitivity, never more than 2^26 below sigma. */
const GRID_BITS_BELOW = 10;
const MAX_GRID_BITS_BELOW_SIGMA = 26;

function gridFor(sigma: number, perValueSensitivity: number): number {
  const fine = Math.min(sigma, perValueSensitivity) * 2 ** -GRID_BITS_BELOW;
  return 2 ** Math.floor(Math.log2(Math.max(fine, sigma * 2 ** -MAX_GRID_BITS_BELOW_SIGMA)));
}

function noisePlan(sigma: number, perValueSensitivity: number, noiseFree: boolean): NoisePlan {
  if (noiseFree || sigma === 0) return { sigma: 0, gridStep: 0 };
  return { sigma, gridStep: gridFor(sigma, perValueSensitivity) };
}

export function mechanismName(mechanism: VoteMechanism): VoteMechanismName {
  switch (mechanism) {
    case VoteMechanism.NOISY_HISTOGRAM:
      return 'noisy-histogram';
    case VoteMechanism.GNMAX:
      return 'gnmax';
    case VoteMechanism.CONFIDENT_GNMAX:
      return 'confident-gnmax';
    default:
      throw new RangeError(`unknown vote mechanism ${mechanism}`);
  }
}

function shapeName(shape: VoteShape): VoteShapeName {
  switch (shape) {
    case VoteShape.ONE_HOT:
      return 'one-hot';
    case VoteShape.TOP_K:
      return 'top-k';
    case VoteShape.SOFT:
      return 'soft';
    default:
      throw new RangeError(`unknown vote shape ${shape}`);
  }
}

/** The privacy plan of a vote round (config checked by checkVoteConfig). */
export function planVotePrivacy(config: RoundConfig, votes: VoteRoundConfig, params: CkksParams, adjacency: AdjacencyName): RoundPrivacyPlan & { votes: VotePlan } {
  const noiseFree = config.unsafeDisableNoise;
  const mechanism = mechanismName(votes.mechanism);
  const shape = shapeName(votes.shape);
  const topK = shape === 'top-k' ? votes.topK : 1;
  const { queries, classes } = votes;
  const perQuery = voteHistogramSensitivity(shape, adjacency, topK);
  const countNoise = noisePlan(votes.sigma2, perQuery / Math.sqrt(classes), noiseFree);
  const thresholdNoise = mechanism === 'confident-gnmax' ? noisePlan(votes.sigma1, TOP_COUNT_SENSITIVITY, noiseFree) : { sigma: 0, gridStep: 0 };
  const errorParams = errorParamsOf(params);
  const bound = decryptionErrorBound(errorParams, config.maxClients);
  const plan: VotePlan = { mechanism, shape, queries, classes, topK, threshold: votes.threshold, countNoise, thresholdNoise, histogramSensitivityPerQuery: perQuery };
  const base = { noise: countNoise, adjacency, baseSensitivity: Math.sqrt(queries) * perQuery, samplingRate: 1, decryptionErrorBound: bound.value, votes: plan };
  if (noiseFree) return { ...base, l2Sensitivity: 0, accountingNoiseMultiplier: 0, floodingMarginBits: Number.NEGATIVE_INFINITY };

  // Whole-histogram L2 sensitivity with one teacher's CKKS error and the grid; spread back per query for the accountant.
  // Replacing a teacher swaps two teachers' encryption errors; adding or removing one, one.
  const d = queries * classes;
  const teachersChanged = adjacency === 'replace-one' ? 2 : 1;
  const histogram = roundedL2Sensitivity(Math.sqrt(queries) * perQuery + teachersChanged * perClientErrorL2(errorParams, d), countNoise.gridStep, d);
  // Each top count moves by at most 1 plus the changed teachers' error on one value (union over all d values), plus the rounding to g₁.
  const topCount =
    mechanism === 'confident-gnmax'
      ? TOP_COUNT_SENSITIVITY + teachersChanged * perClientErrorL2(errorParams, 1, BOUND_FAILURE_PROBABILITY / d) + thresholdNoise.gridStep
      : TOP_COUNT_SENSITIVITY;
  const z = voteNoiseMultiplier({
    mechanism,
    queries,
    sigma1: thresholdNoise.sigma,
    sigma2: countNoise.sigma,
    histogramSensitivity: histogram / Math.sqrt(queries),
    thresholdSensitivity: topCount,
  });
  const smallestSigma = mechanism === 'confident-gnmax' ? Math.min(countNoise.sigma, thresholdNoise.sigma) : countNoise.sigma;
  return {
    ...base,
    // What the ledger composes: one Gaussian of multiplier z; stated as sigma2 over an equivalent sensitivity.
    l2Sensitivity: countNoise.sigma / z,
    accountingNoiseMultiplier: z,
    floodingMarginBits: floodingMarginBits(smallestSigma, bound),
  };
}
