/**
 * The charge of a release (step 4 of ReleaseRound and ReleaseShare): in one
 * durable transaction the budget rule is applied again against the ledger as
 * it is then, the ledger is charged and the key is bound to (contributors
 * digest, sum digest) (KeyStore.chargeRelease). Every decryption is charged,
 * whatever follows. A key already charged for the same digests (a crash or a
 * lost answer after an earlier charge) is resumed under that charge, never a
 * second one. Synchronous: a handler calls it with nothing awaited until the
 * outcome is recorded.
 */
import { refuse } from '@secagg/core';
import type { KeyholderContext } from '../keyholder-context.js';
import type { ReleaseClaim, RoundKeyRow } from './key-store.js';
import type { Affordability } from './privacy-budget.js';
import { affordRelease, enforce, refusal, type PolicyRound } from './release-policy.js';

export interface Charged {
  /** The sealed secret key (or key share) the decryption unseals. */
  sealed: Uint8Array;
  /** The release's cost: this charge's, or the earlier charge's for a resumed release. */
  cost: Affordability;
}

/**
 * Charges the release of `round` for `claim` (or resumes a `charged` key
 * under its charge) and returns the sealed key. Throws the budget refusal, or
 * `claimed_by_other_sum` when the key is bound to other digests. `key` is the
 * key as read after the ciphertexts arrived.
 */
export function chargeRelease(deps: KeyholderContext, round: PolicyRound, key: RoundKeyRow, claim: ReleaseClaim): Charged {
  const { store, clock } = deps;
  const { roundId, plan, budget } = round;
  const resumed = key.status === 'charged';
  const cost = resumed ? chargedCost(deps, key, budget.privacyGroup) : enforce(affordRelease(round, store.ledger(budget.privacyGroup)));
  const sealed = store.chargeRelease(
    roundId,
    claim,
    {
      privacyGroup: budget.privacyGroup,
      roundId,
      noiseMultiplier: plan.accountingNoiseMultiplier,
      samplingRate: plan.samplingRate,
      epsilon: cost.roundEpsilon,
      delta: budget.delta,
      chargedMs: clock(),
    },
    (ledger) => void enforce(affordRelease(round, ledger)),
  );
  if (!sealed) throw refusal('claimed_by_other_sum');
  if (!resumed) deps.afterCharge?.(roundId); // a fresh charge only: the resumed attempt must get through
  return { sealed, cost };
}

/** The cost recorded by the earlier charge of a resumed release (for the result header). */
function chargedCost(deps: KeyholderContext, key: RoundKeyRow, privacyGroup: string): Affordability {
  const entry = deps.store.ledger(privacyGroup).find((e) => e.roundId === key.roundId);
  if (!entry) throw refuse('inconsistent_state', `round ${key.roundId} is charged but has no ledger entry`);
  return { roundEpsilon: entry.epsilon, groupEpsilonBefore: NaN, groupEpsilonAfter: NaN };
}
