/**
 * The release policy: every rule that decides whether a round's encrypted sum
 * may be decrypted and its noisy release published, as verdicts the handlers
 * act on. Two kinds of rule, kept apart on purpose:
 *
 *  - admission (before any decryption): round state, the contributors digest,
 *    min clients and the operator's floor, max clients, the test-only
 *    noise-free switch. They read only the round's configuration and the
 *    release header, never decrypted data, so their messages may say why.
 *  - the range check (after decryption AND after the noise): it reads only the
 *    noised, quantized sum — post-processing of the DP release — so the
 *    decision leaks nothing the release itself would not. Its refusal is one
 *    fixed code and one fixed text: no norm, no count of values out of range,
 *    no number computed from the data (issue 10: the numbers of a noise-free
 *    check let one client reconstruct another's update).
 */
import { refuse, type Reason, type SecaggError } from '@secagg/core';
import type { ReleaseHeader, RoundConfig } from '@secagg/proto';
import type { VotePlan } from './vote-plan.js';

/** Fixed reasons of a refused release, each with its one text (the status is the reason table's, @secagg/core). */
export const RELEASE_REFUSALS = {
  out_of_range: {
    text:
      'the noised sum is outside what a sum of the contributing updates, each clipped to clip_norm, can reach with the ' +
      "round's noise: a forged or poisoned aggregate. The decryption was charged to the privacy budget; nothing was released",
  },
  votes_out_of_range: {
    text:
      "the noised vote histogram is outside what the contributing teachers' votes of the round's shape can reach with the " +
      "round's noise: a teacher voted more than its shape allows, or a forged aggregate. The decryption was charged to the " +
      'privacy budget; nothing was released',
  },
  key_expired: {
    text: "the round's key was destroyed: its deadline plus the keyholder's key retention passed without a release",
  },
  key_consumed: {
    text: "the round's key was consumed by a decryption that never finished (a keyholder version without resumable releases)",
  },
  already_released: {
    text: 'the round was already released with other contributors: a round key releases once',
  },
  claimed_by_other_sum: {
    text: 'a release of this round was already charged for other contributors or another encrypted sum: a round key releases once',
  },
} as const satisfies Partial<Record<Reason, { text: string }>>;

export type ReleaseRefusal = keyof typeof RELEASE_REFUSALS;

export function isReleaseRefusal(reason: string): reason is ReleaseRefusal {
  return Object.hasOwn(RELEASE_REFUSALS, reason);
}

/** The error a refused release answers with: its fixed text, its reason for the caller, logs and metrics. */
export function refusal(reason: ReleaseRefusal): SecaggError {
  return refuse(reason, RELEASE_REFUSALS[reason].text);
}

/**
 * Admission of a release by its header and the round's configuration alone.
 * Throws the precise refusal; returns nothing when the release may go on.
 */
export function admitRelease(
  config: RoundConfig,
  header: Pick<ReleaseHeader, 'contributionCount' | 'ciphertextCount'>,
  expectedCiphertexts: number,
  settings: { minClientsFloor: number; allowUnsafeNoiseFreeRelease: boolean },
): void {
  const needed = Math.max(config.minClients, settings.minClientsFloor);
  if (header.contributionCount < needed) {
    throw refuse(
      'below_min_clients',
      `only ${header.contributionCount} contributions; the round needs at least ${needed} ` +
        `(its min_clients ${config.minClients}, the keyholder's floor ${settings.minClientsFloor})`,
    );
  }
  if (header.contributionCount > config.maxClients) {
    throw refuse('above_max_clients', `${header.contributionCount} contributions exceed max_clients ${config.maxClients}`);
  }
  if (header.ciphertextCount !== expectedCiphertexts) {
    throw refuse('chunk_count', `ciphertext_count ${header.ciphertextCount} != ${expectedCiphertexts}`);
  }
  if (config.unsafeDisableNoise && !settings.allowUnsafeNoiseFreeRelease) {
    throw refuse('unsafe_release_refused', 'noise-free releases are not allowed by this keyholder');
  }
}

/**
 * Admission of a round key (CreateRoundKey, CreateKeyShare) by its
 * configuration: a test-only noise-free round only on a keyholder that allows
 * it, and min_clients at least the operator's floor.
 */
export function admitRoundKey(config: RoundConfig, settings: { minClientsFloor: number; allowUnsafeNoiseFreeRelease: boolean }): void {
  if (config.unsafeDisableNoise && !settings.allowUnsafeNoiseFreeRelease) {
    throw refuse('unsafe_release_refused', 'noise-free releases are not allowed by this keyholder (test-only setting)');
  }
  requireMinClientsFloor(config, settings.minClientsFloor);
}

/** Refuses a round whose min_clients is below the operator's floor (CreateRoundKey). */
export function requireMinClientsFloor(config: RoundConfig, floor: number): void {
  if (config.minClients >= floor) return;
  throw refuse(
    'below_min_clients_floor',
    `config.min_clients ${config.minClients} is below this keyholder's floor of ${floor}: no release may decrypt fewer ` +
      'updates than the floor (KEYHOLDER_MIN_CLIENTS_FLOOR, set by the operator)',
  );
}

/**
 * Probability that an honest round's noised sum fails the range check:
 * 2^-40 (per release, per check). Sets how far above the noise-free bound the
 * noised bounds sit.
 */
export const FALSE_REFUSAL_LOG2 = -40;

export interface RangeBounds {
  /** Largest |value| a noised honest sum reaches except with probability 2^-40. */
  perValue: number;
  /** Largest L2 norm a noised honest sum reaches except with probability 2^-40. */
  l2: number;
}

/** Relative slack over count * C for CKKS approximation error. */
const RANGE_SLACK = 1e-6;

/**
 * Bounds of the range check on the NOISED sum of `count` updates of length
 * d clipped to L2 norm C. Noise-free, every value has |v| ≤ count·C and the
 * sum has ‖v‖ ≤ count·C (triangle inequality), up to the CKKS decryption
 * error e per value and the output rounding (grid/2 per value). The discrete
 * Gaussian of parameter σ is σ-sub-Gaussian (Canonne, Kamath, Steinke 2020),
 * so with u = 40·ln 2:
 *  - per value, P(|noise| > kσ) ≤ 2·exp(−k²/2) for each of d values: with
 *    k = √(2(ln(2d) + u)) no value exceeds it except with probability 2^-40;
 *  - for the whole vector, ‖noise‖² ≤ σ²(d + 2√(d·u) + 2u) except with
 *    probability e^{−u} = 2^-40 (Hsu, Kakade, Zhang 2012, sub-Gaussian
 *    quadratic forms, identity matrix).
 * A forged aggregate is caught when its excess over count·C is larger than
 * the noise allowance; smaller forgeries drown in the DP noise itself
 * (docs/PRIVACY.md §range check).
 */
export function noisedRangeBounds(count: number, clipNorm: number, vectorLength: number, sigma: number, gridStep: number, errorPerValue: number): RangeBounds {
  const d = Math.max(1, vectorLength);
  const u = -FALSE_REFUSAL_LOG2 * Math.LN2;
  const total = count * clipNorm * (1 + RANGE_SLACK) + RANGE_SLACK * clipNorm;
  const perValueNoise = sigma === 0 ? 0 : sigma * Math.sqrt(2 * (Math.log(2 * d) + u));
  const vectorNoise = sigma === 0 ? 0 : sigma * Math.sqrt(d + 2 * Math.sqrt(d * u) + 2 * u);
  const perValueError = errorPerValue + gridStep / 2;
  return {
    perValue: total + perValueError + perValueNoise,
    l2: total + Math.sqrt(d) * perValueError + vectorNoise,
  };
}

/** True when the noised sum is within `bounds`; reads the values only, says nothing else. */
export function withinRange(noisedSum: Float64Array, bounds: RangeBounds): boolean {
  let squares = 0;
  for (const v of noisedSum) {
    if (!(Math.abs(v) <= bounds.perValue)) return false;
    squares += v * v;
  }
  return Math.sqrt(squares) <= bounds.l2;
}

export interface VoteRangeBounds {
  /** Every noised count lies in [valueLow, valueHigh]. */
  valueLow: number;
  valueHigh: number;
  /** Every query's noised row sum lies in [rowLow, rowHigh]. */
  rowLow: number;
  rowHigh: number;
}

/**
 * Bounds of the range check on a NOISED vote histogram of `count` teachers
 * (Q × K counts, noise σ₂ on grid g₂, CKKS error e per value). Noise-free,
 * every count is in [0, count] and each query's row sums to exactly
 * count (one-hot), count·k (top-k), or lies in [0, count] (soft labels).
 * With u = 40·ln 2 and the discrete Gaussian σ-sub-Gaussian (as for
 * noisedRangeBounds):
 *  - per count, a union bound over the d = Q·K counts:
 *    ± (e + g/2 + σ₂·√(2(ln(2d) + u)));
 *  - per row, the sum of K independent noises is σ₂√K-sub-Gaussian, a union
 *    bound over the Q rows: ± (K(e + g/2) + σ₂·√K·√(2(ln(2Q) + u))).
 * An honest release fails each check with probability at most 2^-40. This
 * is how a teacher that casts more votes than its shape allows is caught:
 * only when its excess stands out of the noise of a row (≈ 8.4·σ₂·√K for
 * Q = 1,000), docs/DISTILLATION.md.
 */
export function noisedVoteBounds(plan: Pick<VotePlan, 'queries' | 'classes' | 'shape' | 'topK' | 'countNoise'>, count: number, errorPerValue: number): VoteRangeBounds {
  const { queries, classes, countNoise } = plan;
  const u = -FALSE_REFUSAL_LOG2 * Math.LN2;
  const d = queries * classes;
  const total = count * (1 + RANGE_SLACK) + RANGE_SLACK;
  const perValueError = errorPerValue + countNoise.gridStep / 2;
  const valueSlack = perValueError + countNoise.sigma * Math.sqrt(2 * (Math.log(2 * d) + u));
  const rowSlack = classes * perValueError + countNoise.sigma * Math.sqrt(classes) * Math.sqrt(2 * (Math.log(2 * queries) + u));
  const votesPerRow = plan.shape === 'top-k' ? plan.topK : 1;
  const exactRow = plan.shape !== 'soft';
  return {
    valueLow: -valueSlack,
    valueHigh: total + valueSlack,
    rowLow: (exactRow ? count * votesPerRow * (1 - RANGE_SLACK) : 0) - rowSlack,
    rowHigh: total * votesPerRow + rowSlack,
  };
}

/** True when every noised count and every row sum is within `bounds`; reads the values only, says nothing else. */
export function votesWithinRange(noised: Float64Array, bounds: VoteRangeBounds, classes: number): boolean {
  for (let start = 0; start < noised.length; start += classes) {
    let row = 0;
    for (let i = start; i < start + classes; i++) {
      const v = noised[i]!;
      if (!(v >= bounds.valueLow && v <= bounds.valueHigh)) return false;
      row += v;
    }
    if (!(row >= bounds.rowLow && row <= bounds.rowHigh)) return false;
  }
  return true;
}
