/**
 * The release policy: every rule that decides whether a round key may be
 * created and whether a round's encrypted sum may be decrypted and released,
 * as verdicts the handlers act on (CreateRoundKey and CreateKeyShare call
 * `admitRoundKey`; ReleaseRound and ReleaseShare call `admitKeyState`,
 * `admitRelease`, `affordRelease`, and ReleaseRound `admitNoisedSum`). Each
 * rule is written once here; no handler checks a rule of its own.
 *
 * Two kinds of rule, kept apart on purpose:
 *
 *  - admission (before any decryption): the key's state (a key releases
 *    once), the contributors digest, min clients and the operator's floor,
 *    max clients, the test-only noise-free switch, the flooding margin, the
 *    privacy budget. They read only the round's configuration, its privacy
 *    plan, the ledger and the release header, never decrypted data, so their
 *    messages may say why.
 *  - the range check (after decryption AND after the noise): it reads only the
 *    noised, quantized sum — post-processing of the DP release — so the
 *    decision leaks nothing the release itself would not. Its refusal is one
 *    fixed code and one fixed text: no norm, no count of values out of range,
 *    no number computed from the data (issue 10: the numbers of a noise-free
 *    check let one client reconstruct another's update).
 *
 * An idempotent repeat of a round key's creation is not admitted again: it
 * creates nothing, and every rule that may have changed since (the floor,
 * the noise-free switch, the budget) applies again at the release.
 */
import { timingSafeEqual } from 'node:crypto';
import { refuse, SecaggError, type Reason } from '@secagg/core';
import type { CkksParams } from '@secagg/ckks';
import type { ReleaseHeader, RoundConfig } from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import type { LedgerEntry, RoundKeyRow, StoredRelease } from './key-store.js';
import { requireAffordable, type Affordability, type GroupBudget } from './privacy-budget.js';
import type { RoundPrivacyPlan } from './privacy-plan.js';
import type { VotePlan } from './vote-plan.js';

/** Fixed reason codes of a refused release, each with its status and its one text. */
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

/** What a rule decides: go on, with what it found, or answer with the refusal. */
export type Verdict<T = void> = { admitted: true; value: T } | { admitted: false; refusal: SecaggError };

const admitted = <T>(value: T): Verdict<T> => ({ admitted: true, value });
const refused = (error: SecaggError): Verdict<never> => ({ admitted: false, refusal: error });

/** The value of an admitting verdict; throws its refusal otherwise (what a handler does with a verdict). */
export function enforce<T>(verdict: Verdict<T>): T {
  if (!verdict.admitted) throw verdict.refusal;
  return verdict.value;
}

/** The keyholder settings the policy reads. */
export type PolicySettings = Pick<KeyholderConfig, 'minClientsFloor' | 'allowUnsafeNoiseFreeRelease' | 'minFloodingMarginBits'>;

/** A round as the policy sees it: its configuration, its privacy plan and its group's budget. */
export interface PolicyRound {
  roundId: string;
  config: RoundConfig;
  plan: RoundPrivacyPlan;
  budget: GroupBudget;
}

// ---- The rules, each once. Each returns the refusal, or undefined when the round passes it.

/** Test-only noise-free rounds exist only on a keyholder that allows them. */
function noiseFreeRule(config: RoundConfig, settings: PolicySettings): SecaggError | undefined {
  if (!config.unsafeDisableNoise || settings.allowUnsafeNoiseFreeRelease) return undefined;
  return refuse('unsafe_release_refused', 'noise-free releases are not allowed by this keyholder (test-only setting)');
}

/** No round may plan to decrypt fewer updates than the operator's floor. */
function minClientsFloorRule(config: RoundConfig, floor: number): SecaggError | undefined {
  if (config.minClients >= floor) return undefined;
  return refuse('below_min_clients_floor', `config.min_clients ${config.minClients} is below this keyholder's floor of ${floor}: no release may decrypt fewer ` +
      'updates than the floor (KEYHOLDER_MIN_CLIENTS_FLOOR, set by the operator)');
}

/**
 * The noise must drown the CKKS decryption error by `minBits`, or the release
 * would leak information about the secret key (Li & Micciancio 2021).
 * Noise-free rounds have no noise to flood with: the noise-free rule governs them.
 */
function floodingRule(round: PolicyRound, params: CkksParams, minBits: number): SecaggError | undefined {
  const { plan, config } = round;
  if (config.unsafeDisableNoise || plan.floodingMarginBits >= minBits) return undefined;
  const short = minBits - plan.floodingMarginBits;
  return refuse('flooding_margin_too_small', `flooding margin ${plan.floodingMarginBits.toFixed(1)} bits is below the keyholder's minimum ${minBits}: the noise sigma ` +
      `${plan.noise.sigma} does not exceed the CKKS decryption-error bound ${plan.decryptionErrorBound.toExponential(2)} ` +
      `(${params.preset}, ${params.encoding}, scale 2^${params.scaleBits}, ${config.maxClients} max clients) by 2^${minBits}, ` +
      `so the release would leak secret-key information. Add ${short.toFixed(1)} bits: raise the noise multiplier ` +
      `(x${(2 ** short).toPrecision(3)} would do), lower max_clients (each halving adds about 1.5 bits), ` +
      'or use a preset with a larger modulus');
}

/** Poisson sampling is accounted under add-remove adjacency only. */
function samplingRule(plan: RoundPrivacyPlan): SecaggError | undefined {
  if (plan.samplingRate >= 1 || plan.adjacency !== 'replace-one') return undefined;
  return refuse('sampling_needs_add_remove', 'Poisson sampling (sampling_rate < 1) cannot be accounted under replace-one adjacency by this keyholder: ' +
      'use sampling_rate 1, or add-remove adjacency');
}

/** The release count must reach both the round's min_clients and the operator's floor, and not pass max_clients. */
function contributionsRule(config: RoundConfig, count: number, floor: number): SecaggError | undefined {
  const needed = Math.max(config.minClients, floor);
  if (count < needed) {
    return refuse('below_min_clients', `only ${count} contributions; the round needs at least ${needed} (its min_clients ${config.minClients}, the keyholder's floor ${floor})`);
  }
  if (count > config.maxClients) {
    return refuse('above_max_clients', `${count} contributions exceed max_clients ${config.maxClients}`);
  }
  return undefined;
}

/**
 * The budget rule: the cost of one more release of `round` on top of
 * `ledger`, or the refusal when its group cannot afford it. Test-only
 * noise-free releases are not budgeted: they cost epsilon = +Infinity.
 * Applied when the key is created, when a release is admitted, and again
 * inside the charge's transaction (KeyStore.chargeRelease).
 */
export function affordRelease(round: PolicyRound, ledger: readonly LedgerEntry[]): Verdict<Affordability> {
  if (round.config.unsafeDisableNoise) return admitted({ roundEpsilon: Infinity, groupEpsilonBefore: NaN, groupEpsilonAfter: Infinity });
  try {
    return admitted(requireAffordable(round.budget, ledger, round.plan, round.roundId));
  } catch (error) {
    if (error instanceof SecaggError) return refused(error);
    throw error;
  }
}

// ---- The admissions the handlers call.

/**
 * Admission of a new round key (CreateRoundKey, CreateKeyShare), once its
 * CKKS parameters and privacy plan are chosen and before any key exists:
 * the noise-free switch, the min-clients floor, the flooding margin, the
 * sampling/adjacency pair, and the budget. Admitted: the round's cost.
 */
export function admitRoundKey(round: PolicyRound, params: CkksParams, ledger: readonly LedgerEntry[], settings: PolicySettings): Verdict<Affordability> {
  const refusal =
    noiseFreeRule(round.config, settings) ??
    minClientsFloorRule(round.config, settings.minClientsFloor) ??
    floodingRule(round, params, settings.minFloodingMarginBits) ??
    samplingRule(round.plan);
  return refusal ? refused(refusal) : affordRelease(round, ledger);
}

/**
 * What the key's state allows for a release with `contributorsSha256`
 * (ReleaseRound, ReleaseShare): 'release' while it is still to be made
 * (ready) or resumed (charged); 'repeat' the stored release for the same
 * contributors; otherwise the fixed refusal (a round key releases once, a
 * refused, expired or consumed key never). `stored` is the round's stored
 * release, read only for a released key.
 */
export function admitKeyState(key: RoundKeyRow, contributorsSha256: Uint8Array, stored: () => StoredRelease | undefined): Verdict<'release' | 'repeat'> {
  switch (key.status) {
    case 'ready':
    case 'charged':
      return admitted('release');
    case 'released': {
      const release = stored();
      if (!release) throw refuse('inconsistent_state', `round ${key.roundId} is marked released but has no stored release`);
      return sameDigest(release.contributorsSha256, contributorsSha256) ? admitted('repeat') : refused(refusal('already_released'));
    }
    case 'refused':
      if (key.claim && !sameDigest(key.claim.contributorsSha256, contributorsSha256)) return refused(refusal('claimed_by_other_sum'));
      return refused(refusal(isReleaseRefusal(key.reason) ? key.reason : 'out_of_range'));
    case 'expired':
      return refused(refusal('key_expired'));
    case 'consumed':
      return refused(refusal('key_consumed'));
  }
}

/**
 * Admission of a release by its header, the round's configuration and its
 * group's ledger, before any ciphertext is read: contributions within
 * [max(min_clients, floor), max_clients], the sum's ciphertext count, the
 * noise-free switch, and the budget — except for a resumed release (`charged`
 * key), whose charge is in the ledger already.
 */
export function admitRelease(
  round: PolicyRound,
  header: Pick<ReleaseHeader, 'contributionCount' | 'ciphertextCount'>,
  expectedCiphertexts: number,
  ledger: readonly LedgerEntry[],
  resumed: boolean,
  settings: PolicySettings,
): Verdict {
  const refusal = contributionsRule(round.config, header.contributionCount, settings.minClientsFloor);
  if (refusal) return refused(refusal);
  if (header.ciphertextCount !== expectedCiphertexts) {
    return refused(refuse('chunk_count', `ciphertext_count ${header.ciphertextCount} != ${expectedCiphertexts}`));
  }
  const noiseFree = noiseFreeRule(round.config, settings);
  if (noiseFree) return refused(noiseFree);
  if (resumed) return admitted(undefined);
  const budget = affordRelease(round, ledger);
  return budget.admitted ? admitted(undefined) : budget;
}

/**
 * The range check of a NOISED sum of `count` contributions: within the
 * bounds an honest noised sum keeps (noisedRangeBounds), or the fixed
 * `out_of_range` refusal. Reads the values only, says nothing about them.
 */
export function admitNoisedSum(noisedSum: Float64Array, round: PolicyRound, count: number): Verdict {
  const { config, plan } = round;
  const bounds = noisedRangeBounds(count, config.clipNorm, config.vectorLength, plan.noise.sigma, plan.noise.gridStep, plan.decryptionErrorBound);
  return withinRange(noisedSum, bounds) ? admitted(undefined) : refused(refusal('out_of_range'));
}

/** Constant-time equality of two digests. */
export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
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
