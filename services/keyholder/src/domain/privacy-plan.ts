/**
 * What a round's release costs and how safe it is, from its configuration
 * alone: noise and output grid, the sensitivity the accountant must use, the
 * accounted noise multiplier and sampling rate, the CKKS decryption-error
 * bound and the flooding margin. Deterministic, so CreateRoundKey and
 * ReleaseRound compute the same plan (docs/PRIVACY.md).
 */
import { roundedL2Sensitivity } from '@secagg/dp';
import type { CkksParams } from '@secagg/ckks';
import { checkVoteConfig, isVoteRound, samplingRateOf } from '@secagg/protocol';
import type { RoundConfig } from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import { collectiveErrorBound, decryptionErrorBound, errorParamsOf, floodingMarginBits, perClientErrorL2 } from './flooding.js';
import { planNoise, type NoisePlan } from './noise.js';
import { planVotePrivacy, type VotePlan } from './vote-plan.js';

export type AdjacencyName = KeyholderConfig['adjacency'];

export interface RoundPrivacyPlan {
  noise: NoisePlan;
  adjacency: AdjacencyName;
  /** C (add/remove) or 2C (replace-one): the sensitivity of the exact sum. */
  baseSensitivity: number;
  /** What the accountant uses: base + output rounding (grid·√d) + one client's CKKS error (L2). 0 for noise-free. */
  l2Sensitivity: number;
  /** sigma / l2Sensitivity (0 for a noise-free round: unbounded privacy loss). */
  accountingNoiseMultiplier: number;
  /** Poisson sampling rate q (1 = no sampling). */
  samplingRate: number;
  /** High-probability bound on one released value's decryption error (sum of max_clients encryptions), update's unit. */
  decryptionErrorBound: number;
  /** log2(sigma / decryptionErrorBound); -Infinity for a noise-free round. For a vote round, the smaller of sigma1 and sigma2. */
  floodingMarginBits: number;
  /** Vote rounds only: the mechanism and its noises (vote-plan.ts). */
  votes?: VotePlan;
}

export function planRoundPrivacy(config: RoundConfig, params: CkksParams, adjacency: AdjacencyName): RoundPrivacyPlan {
  if (isVoteRound(config)) return planVotePrivacy(config, checkVoteConfig(config), params, adjacency);
  const noiseFree = config.unsafeDisableNoise;
  const baseSensitivity = (adjacency === 'replace-one' ? 2 : 1) * config.clipNorm;
  const committee = config.keyholders?.count ?? 0;
  // Threshold keyholders (threshold.ts): each keyholder's noise is a discrete Gaussian over the plaintext's integer
  // coefficients (grid 2^-scaleBits), added to its decryption share; the decryption error is that of the collective key.
  const noise =
    committee > 0 && !noiseFree
      ? { sigma: config.noiseMultiplier * config.clipNorm, gridStep: 2 ** -params.scaleBits }
      : planNoise(config.noiseMultiplier, config.clipNorm, baseSensitivity, config.vectorLength, noiseFree);
  const errorParams = errorParamsOf(params);
  const bound = collectiveErrorBound(decryptionErrorBound(errorParams, config.maxClients), committee);
  const samplingRate = samplingRateOf(config);
  if (noiseFree) {
    return {
      noise,
      adjacency,
      baseSensitivity,
      l2Sensitivity: 0,
      accountingNoiseMultiplier: 0,
      samplingRate,
      decryptionErrorBound: bound.value,
      floodingMarginBits: Number.NEGATIVE_INFINITY,
    };
  }
  // Removing a client removes its encryption error too; on the grid, rounding adds grid·√d.
  const withCkksError = baseSensitivity + perClientErrorL2(errorParams, config.vectorLength) * Math.max(1, committee);
  const l2Sensitivity = roundedL2Sensitivity(withCkksError, noise.gridStep, config.vectorLength);
  return {
    noise,
    adjacency,
    baseSensitivity,
    l2Sensitivity,
    accountingNoiseMultiplier: noise.sigma / l2Sensitivity,
    samplingRate,
    decryptionErrorBound: bound.value,
    floodingMarginBits: floodingMarginBits(noise.sigma, bound),
  };
}
