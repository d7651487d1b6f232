/**
 * Authentication and authorization of every call: the bearer token is
 * verified, then the role must be one the method allows, and a round-scoped
 * token must stay within its round. The principal's subject is the only
 * identity updates are attributed to. The rules are the matrix of
 * docs/SECURITY.md (tested row by row by test/src/authorization.int.test.ts).
 */
import { Code, methodPath, SecaggError, type CallContext } from '@secagg/core';
import { bearerToken, type Principal, type Role, type TokenVerifier } from '@secagg/auth';
import { ClientService, CoordinatorService } from '@secagg/proto';

/**
 * The RPCs that name one round, the only ones a round-scoped token may call;
 * each checks the round it names with {@link checkRoundScope}. Any other RPC
 * (creating a round, listing every round, privacy budgets, and any RPC added
 * later until it is listed here) refuses round-scoped tokens: a token minted
 * for one round must not reach past it.
 */
const ROUND_ADDRESSED_METHODS: ReadonlySet<string> = new Set(
  [
    ClientService.method.getRound,
    ClientService.method.submitUpdate,
    ClientService.method.getResult,
    CoordinatorService.method.closeRound,
    CoordinatorService.method.getRoundStatus,
  ].map(methodPath),
);

export async function authorize(ctx: CallContext, tokens: TokenVerifier, allowed: readonly Role[]): Promise<Principal> {
  const principal = await tokens.verify(bearerToken(ctx.metadata.get('authorization')[0]));
  const method = ctx.method.split('/').pop();
  if (!allowed.includes(principal.role)) {
    throw new SecaggError(Code.PermissionDenied, `role ${principal.role} may not call ${method}`, {
      errorCode: 'role_denied',
    });
  }
  if (principal.round !== undefined && !ROUND_ADDRESSED_METHODS.has(ctx.method)) {
    throw new SecaggError(Code.PermissionDenied, `token is scoped to round ${principal.round}; ${method} needs an unscoped token`, {
      errorCode: 'round_scope',
    });
  }
  return principal;
}

/** A round-scoped token may only be used for its round. */
export function checkRoundScope(principal: Principal, roundId: string): void {
  if (principal.round !== undefined && principal.round !== roundId) {
    throw new SecaggError(Code.PermissionDenied, `token is scoped to round ${principal.round}`, { errorCode: 'round_scope' });
  }
}
