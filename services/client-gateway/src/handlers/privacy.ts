/**
 * The coordinator's privacy-budget API, relayed to the keyholder (the only
 * authority on budgets and the ledger; see docs/PRIVACY.md).
 *
 * SetPrivacyBudget: coordinator role, owner of the group (claimed by this
 * call when nobody owns it; the claim is undone when the keyholder refuses).
 * The caller's subject is passed on for the keyholder's log. Errors:
 * PERMISSION_DENIED (another coordinator's group), the keyholder's
 * INVALID_ARGUMENT (group, epsilon above its ceiling, delta), UNAVAILABLE.
 * GetPrivacyBudget: coordinator (owner of the group, or the group unclaimed)
 * or operator role. Read-only.
 */
import { create } from '@bufbuild/protobuf';
import { forwardedMetadata, refuse } from '@secagg/core';
import {
  GetPrivacyBudgetResponseSchema,
  SetPrivacyBudgetResponseSchema,
  type GetPrivacyBudgetRequest,
  type GetPrivacyBudgetResponse,
  type SetPrivacyBudgetRequest,
  type SetPrivacyBudgetResponse,
} from '@secagg/proto';
import type { GatewayContext } from '../gateway-context.js';
import type { GatewayCall } from '../call-policy.js';
import { claimGroupFor, privacyGroupName, requireGroupReader } from '../domain/ownership.js';

export async function setPrivacyBudget(request: SetPrivacyBudgetRequest, ctx: GatewayCall, deps: GatewayContext): Promise<SetPrivacyBudgetResponse> {
  const { principal } = ctx;
  const group = privacyGroupName(request.privacyGroup);
  const claim = await claimGroupFor(deps.store, principal, group, 'set its budget', deps.logger);
  let response;
  try {
    response = await deps.keyholder.setGroupPrivacyBudget(
      { privacyGroup: group, epsilon: request.epsilon, delta: request.delta, requestedBy: principal.subject },
      { deadline: deps.config.keyholderDeadlineMs, metadata: forwardedMetadata(ctx) },
    );
    if (!response.budget) throw refuse('bad_peer_reply', 'keyholder returned no budget');
  } catch (error) {
    await claim.undo();
    throw error;
  }
  deps.logger.info({ privacyGroup: response.budget.privacyGroup, epsilon: request.epsilon, by: principal.subject }, 'privacy budget set');
  return create(SetPrivacyBudgetResponseSchema, { budget: response.budget });
}

export async function getPrivacyBudget(request: GetPrivacyBudgetRequest, ctx: GatewayCall, deps: GatewayContext): Promise<GetPrivacyBudgetResponse> {
  const { principal } = ctx;
  const group = privacyGroupName(request.privacyGroup);
  await requireGroupReader(deps.store, principal, group);
  const response = await deps.keyholder.getGroupPrivacyBudget(
    { privacyGroup: group },
    { deadline: deps.config.keyholderDeadlineMs, metadata: forwardedMetadata(ctx) },
  );
  if (!response.budget) throw refuse('bad_peer_reply', 'keyholder returned no budget');
  return create(GetPrivacyBudgetResponseSchema, { budget: response.budget });
}
