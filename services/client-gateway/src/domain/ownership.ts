/**
 * Who owns what a coordinator acts on (issue 10: coordinator B closed A's
 * round and set A's group budget to 0.0001). The rules of docs/SECURITY.md
 * "Ownership", in one place; the handlers only call them.
 *
 * - A round belongs to the coordinator (token subject) that created it. Only
 *   it may close the round. Rounds created before rounds had owners belong to
 *   nobody: no coordinator closes them, they end at their deadline.
 * - A privacy group belongs to the coordinator that first claimed it, by
 *   setting its budget or creating a round in it (`''` is the group
 *   `default`, claimed like any other). Only the owner sets its budget, reads
 *   it, or creates rounds that spend it. First claim rather than an operator
 *   ACL: it needs no new administrative API and no step before a group's
 *   first use, and a group's spending is only ever decided by one principal.
 *   Operators reassign a group with the Redis admin user (docs/OPERATIONS.md).
 * - Operators are never limited by ownership: they read every round and group
 *   (their role still may not close rounds or set budgets).
 * - Reads open to every client (GetRound, GetResult: the round's parameters
 *   and its released, differentially private aggregate) are open to every
 *   coordinator too: refusing a coordinator what any client token reads would
 *   protect nothing. What only coordinators can read is scoped to the owner:
 *   the budget and spending of a group, and the list of rounds.
 *
 * A refusal is PERMISSION_DENIED and names the round or group, never its owner.
 */
import { refuse, SecaggError, type Logger } from '@secagg/core';
import type { Principal } from '@secagg/auth';
import { PRIVACY_GROUP } from '@secagg/protocol';
import type { RoundRecord, RoundStore } from '@secagg/store';

/** Operators act on everything; coordinators on what they own. */
const unlimited = (principal: Principal) => principal.role === 'operator';

/** Only the round's owner (or an operator) passes; PERMISSION_DENIED otherwise. */
export function requireRoundOwner(principal: Principal, round: RoundRecord, action: string): void {
  if (unlimited(principal) || (round.owner !== '' && round.owner === principal.subject)) return;
  throw refuse(
    'not_round_owner',
    round.owner === ''
      ? `round ${round.roundId} has no owner (created before rounds had owners); no coordinator may ${action} it`
      : `round ${round.roundId} belongs to another coordinator; only its owner may ${action} it`,
  );
}

/** The privacy group a request names (`''` is `default`); INVALID_ARGUMENT as the keyholder words it. */
export function privacyGroupName(requested: string): string {
  if (requested === '') return 'default';
  if (!PRIVACY_GROUP.test(requested)) {
    throw refuse('bad_privacy_group', 'privacy_group must be 1-64 characters of [A-Za-z0-9_.-]');
  }
  return requested;
}

function notGroupOwner(group: string, action: string): SecaggError {
  return refuse('not_group_owner', `privacy group ${group} belongs to another coordinator; only its owner may ${action}`);
}

/** Reading a group's budget: its owner, an operator, or anyone while the group is unclaimed (it then shows only defaults). */
export async function requireGroupReader(store: RoundStore, principal: Principal, group: string): Promise<void> {
  if (unlimited(principal)) return;
  const owner = await store.privacyGroupOwner(group);
  if (owner !== undefined && owner !== principal.subject) throw notGroupOwner(group, 'read its budget');
}

/**
 * Spending or setting a group: claims it for the caller when unclaimed, and
 * refuses unless the caller owns it. Returns `undo`, to call when the action
 * the claim was made for is then refused, so that a refusal changes nothing.
 */
export async function claimGroupFor(
  store: RoundStore,
  principal: Principal,
  group: string,
  action: string,
  logger: Logger,
): Promise<{ undo: () => Promise<void> }> {
  const { owner, claimedNow } = await store.claimPrivacyGroup(group, principal.subject);
  if (owner !== principal.subject) throw notGroupOwner(group, action);
  const undo = async () => {
    // The refusal being answered matters more than this: a claim left behind only makes the caller the group's owner early.
    await store.releasePrivacyGroupClaim(group, principal.subject).catch((error: unknown) => logger.warn({ err: error, privacyGroup: group }, 'could not undo a privacy-group claim'));
  };
  return { undo: claimedNow ? undo : async () => {} };
}
