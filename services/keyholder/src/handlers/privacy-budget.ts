/**
 * SetGroupPrivacyBudget / GetGroupPrivacyBudget: the keyholder is the
 * authority on privacy budgets (it alone charges the ledger); the gateway
 * relays the coordinator's calls.
 *
 * SetGroupPrivacyBudget { privacy_group, epsilon, delta, requested_by } ->
 * the group's budget. epsilon finite, > 0, <= config.maxBudgetEpsilon (the
 * operator's ceiling, which no coordinator can pass); delta in (0,
 * config.delta], 0 meaning config.delta. Spent epsilon never decreases: a
 * budget below it refuses every further round of the group. Idempotent.
 * Errors: INVALID_ARGUMENT naming the field.
 *
 * GetGroupPrivacyBudget { privacy_group } -> budget, spent and remaining
 * epsilon at the group's delta, and its releases. Read-only.
 */
import { create } from '@bufbuild/protobuf';
import { refuse } from '@secagg/core';
import { PRIVACY_GROUP } from '@secagg/protocol';
import {
  GetGroupPrivacyBudgetResponseSchema,
  SetGroupPrivacyBudgetResponseSchema,
  type GetGroupPrivacyBudgetRequest,
  type GetGroupPrivacyBudgetResponse,
  type SetGroupPrivacyBudgetRequest,
  type SetGroupPrivacyBudgetResponse,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { privacyBudgetMessage } from '../domain/privacy-budget.js';

function checkGroup(privacyGroup: string): string {
  if (privacyGroup === '') return 'default';
  if (!PRIVACY_GROUP.test(privacyGroup)) {
    throw refuse('bad_privacy_group', 'privacy_group must be 1-64 characters of [A-Za-z0-9_.-]');
  }
  return privacyGroup;
}

export function setGroupPrivacyBudget(request: SetGroupPrivacyBudgetRequest, deps: KeyholderContext): SetGroupPrivacyBudgetResponse {
  const { config, store, logger, clock } = deps;
  const privacyGroup = checkGroup(request.privacyGroup);
  const { epsilon } = request;
  if (!(Number.isFinite(epsilon) && epsilon > 0)) {
    throw refuse('bad_budget', `epsilon must be finite and > 0, got ${epsilon}`);
  }
  if (epsilon > config.maxBudgetEpsilon) {
    throw refuse(
      'budget_above_ceiling',
      `epsilon ${epsilon} exceeds this keyholder's ceiling ${config.maxBudgetEpsilon} (KEYHOLDER_MAX_BUDGET_EPSILON, set by its operator)`,
    );
  }
  const delta = request.delta === 0 ? config.delta : request.delta;
  if (!(delta > 0 && delta <= config.delta)) {
    throw refuse('bad_budget', `delta must be in (0, ${config.delta}] (0 = ${config.delta}), got ${request.delta}`);
  }
  store.setBudget({ privacyGroup, epsilon, delta, updatedMs: clock() });
  const budget = privacyBudgetMessage(store, config, privacyGroup);
  logger.info(
    { privacyGroup, epsilon, delta, spent: budget.epsilonSpent, requestedBy: request.requestedBy },
    'privacy budget set',
  );
  return create(SetGroupPrivacyBudgetResponseSchema, { budget });
}

export function getGroupPrivacyBudget(request: GetGroupPrivacyBudgetRequest, deps: KeyholderContext): GetGroupPrivacyBudgetResponse {
  const privacyGroup = checkGroup(request.privacyGroup);
  return create(GetGroupPrivacyBudgetResponseSchema, { budget: privacyBudgetMessage(deps.store, deps.config, privacyGroup) });
}
