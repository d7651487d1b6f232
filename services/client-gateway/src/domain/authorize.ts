/**
 * Authentication and authorization of every call: the bearer token is
 * verified, then the role must be one the method allows. The principal's
 * subject is the only identity updates are attributed to.
 */
import { Code, SecaggError, type CallContext } from '@secagg/core';
import { bearerToken, type Principal, type Role, type TokenVerifier } from '@secagg/auth';

export async function authorize(ctx: CallContext, tokens: TokenVerifier, allowed: readonly Role[]): Promise<Principal> {
  const principal = await tokens.verify(bearerToken(ctx.metadata.get('authorization')[0]));
  if (!allowed.includes(principal.role)) {
    throw new SecaggError(Code.PermissionDenied, `role ${principal.role} may not call ${ctx.method.split('/').pop()}`, {
      errorCode: 'role_denied',
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
