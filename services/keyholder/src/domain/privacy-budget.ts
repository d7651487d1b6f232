/**
 * Privacy groups and their budgets. A group (one training run over one
 * population) may reach at most epsilon_budget at its delta, where the
 * epsilon of the group is the composition of every release charged to it,
 * each the Poisson-subsampled Gaussian (Mironov, Talwar, Zhang 2019) with its
 * own accounted noise multiplier and sampling rate, by the operator's
 * accountant (`KEYHOLDER_ACCOUNTANT`): `rdp` (default) composes RDP (Mironov
 * 2017, Prop. 1) and converts to (ε, δ) with the improved conversion
 * (Canonne, Kamath, Steinke 2020; Balle et al. 2020) over dp-accounting's
 * orders; `pld` composes privacy loss distributions (@secagg/dp
 * `composePld`: pessimistic, so still an upper bound, and tighter).
 * Composing, not adding per-release epsilons, is what keeps long runs
 * affordable; the per-release epsilons in the ledger are for display only.
 */
import { create } from '@bufbuild/protobuf';
import { refuse } from '@secagg/core';
import { computeEpsilon, computeEpsilonPld, type RoundSpec } from '@secagg/dp';
import {
  Adjacency,
  PrivacyBudgetSchema,
  PrivacyChargeSchema,
  PrivacyCostSchema,
  type PrivacyBudget,
  type PrivacyCost,
} from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import type { KeyStore, LedgerEntry } from './key-store.js';
import type { RoundPrivacyPlan } from './privacy-plan.js';

/** Which accountant composes a group's releases (`KEYHOLDER_ACCOUNTANT`). */
export type Accountant = KeyholderConfig['accountant'];

/** A group's budget: set by a coordinator, or the keyholder's default. */
export interface GroupBudget {
  privacyGroup: string;
  epsilon: number;
  delta: number;
  explicitlySet: boolean;
  updatedMs: number;
  /** The accountant its epsilon is computed with; absent = rdp. */
  accountant?: Accountant;
}

type BudgetSettings = Pick<KeyholderConfig, 'defaultBudgetEpsilon' | 'delta'> & Partial<Pick<KeyholderConfig, 'accountant'>>;

export function budgetOf(store: KeyStore, settings: BudgetSettings, privacyGroup: string): GroupBudget {
  const accountant = settings.accountant ? { accountant: settings.accountant } : {};
  const row = store.getBudget(privacyGroup);
  if (row) return { ...row, explicitlySet: true, ...accountant };
  return { privacyGroup, epsilon: settings.defaultBudgetEpsilon, delta: settings.delta, explicitlySet: false, updatedMs: 0, ...accountant };
}

/** What the accountant composes for one release. */
export interface Charge {
  noiseMultiplier: number;
  samplingRate: number;
}

/**
 * Epsilon at `delta` of the composition of `charges` (0 for none) by
 * `accountant`. Equal charges are grouped into one RoundSpec with `steps` =
 * their count: the same sum of RDP computed once, or for PLD one FFT raised
 * to the count (fast even for thousands of releases).
 */
export function composedEpsilon(charges: readonly Charge[], delta: number, accountant: Accountant = 'rdp'): number {
  if (charges.length === 0) return 0;
  const specs = new Map<string, RoundSpec>();
  for (const c of charges) {
    const key = `${c.noiseMultiplier}/${c.samplingRate}`;
    const spec = specs.get(key);
    if (spec) spec.steps++;
    else specs.set(key, { noiseMultiplier: c.noiseMultiplier, samplingRate: c.samplingRate, steps: 1 });
  }
  const rounds = [...specs.values()];
  return accountant === 'pld' ? computeEpsilonPld(rounds, delta).epsilon : computeEpsilon(rounds, delta).epsilon;
}

export interface Affordability {
  /** This release alone, at the group's delta. */
  roundEpsilon: number;
  /** The group after this release, at the group's delta. */
  groupEpsilonAfter: number;
  /** The group before it. */
  groupEpsilonBefore: number;
}

/** The cost of one more release with `plan` on top of `ledger`, at the group's delta. */
export function costOf(budget: GroupBudget, ledger: readonly LedgerEntry[], plan: RoundPrivacyPlan): Affordability {
  const charge: Charge = { noiseMultiplier: plan.accountingNoiseMultiplier, samplingRate: plan.samplingRate };
  return {
    roundEpsilon: composedEpsilon([charge], budget.delta, budget.accountant),
    groupEpsilonBefore: composedEpsilon(ledger, budget.delta, budget.accountant),
    groupEpsilonAfter: composedEpsilon([...ledger, charge], budget.delta, budget.accountant),
  };
}

/**
 * Throws FAILED_PRECONDITION (reason `privacy_budget_exhausted`) unless
 * the group's budget affords one more release with `plan`. A budget refusal
 * is permanent for the round (spent epsilon never decreases), hence not
 * RESOURCE_EXHAUSTED, which callers would retry.
 */
export function requireAffordable(
  budget: GroupBudget,
  ledger: readonly LedgerEntry[],
  plan: RoundPrivacyPlan,
  roundId: string,
): Affordability {
  const cost = costOf(budget, ledger, plan);
  if (!(cost.groupEpsilonAfter <= budget.epsilon)) {
    throw refuse(
      'privacy_budget_exhausted',
      `privacy budget of group "${budget.privacyGroup}" exhausted: round ${roundId} would bring it to epsilon ${fmt(cost.groupEpsilonAfter)} ` +
        `at delta ${budget.delta}, above its budget ${fmt(budget.epsilon)} (already spent ${fmt(cost.groupEpsilonBefore)} in ${ledger.length} ` +
        `release${ledger.length === 1 ? '' : 's'}; this round alone costs ${fmt(cost.roundEpsilon)}); raise the noise multiplier, lower the ` +
        'sampling rate, or start a new privacy group only if it covers other people',
    );
  }
  return cost;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

/** The PrivacyCost message of a round. */
export function privacyCostMessage(budget: GroupBudget, plan: RoundPrivacyPlan, cost: Affordability): PrivacyCost {
  return create(PrivacyCostSchema, {
    privacyGroup: budget.privacyGroup,
    roundEpsilon: cost.roundEpsilon,
    groupEpsilonAfter: cost.groupEpsilonAfter,
    epsilonBudget: budget.epsilon,
    delta: budget.delta,
    noiseSigma: plan.noise.sigma,
    gridStep: plan.noise.gridStep,
    l2Sensitivity: plan.l2Sensitivity,
    accountingNoiseMultiplier: plan.accountingNoiseMultiplier,
    samplingRate: plan.samplingRate,
    adjacency: plan.adjacency === 'replace-one' ? Adjacency.REPLACE_ONE : Adjacency.ADD_REMOVE,
    decryptionErrorBound: plan.decryptionErrorBound,
    floodingMarginBits: plan.floodingMarginBits,
  });
}

/** The PrivacyBudget message of a group: budget, spent and remaining epsilon at its delta, releases. */
export function privacyBudgetMessage(store: KeyStore, settings: BudgetSettings, privacyGroup: string): PrivacyBudget {
  const budget = budgetOf(store, settings, privacyGroup);
  const ledger = store.ledger(privacyGroup);
  const spent = composedEpsilon(ledger, budget.delta, budget.accountant);
  return create(PrivacyBudgetSchema, {
    privacyGroup,
    epsilonBudget: budget.epsilon,
    delta: budget.delta,
    epsilonSpent: spent,
    epsilonRemaining: Math.max(0, budget.epsilon - spent),
    explicitlySet: budget.explicitlySet,
    updatedUnixMs: BigInt(budget.updatedMs),
    releases: ledger.map((entry) =>
      create(PrivacyChargeSchema, {
        roundId: entry.roundId,
        epsilon: entry.epsilon,
        delta: entry.delta,
        accountingNoiseMultiplier: entry.noiseMultiplier,
        samplingRate: entry.samplingRate,
        chargedUnixMs: BigInt(entry.chargedMs),
      }),
    ),
  });
}
