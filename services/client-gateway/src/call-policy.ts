/**
 * Who may call each RPC of the gateway: one entry per method of each
 * contract (a new RPC does not compile until it has one), applied by the
 * gRPC adapter around every handler (@secagg/core call-policy.ts).
 *
 * Before any of this, the call guard (domain/call-guard.ts) has verified the
 * bearer token without reading the request; here the token is verified again
 * to learn the caller, its role is checked against the method's roles, and a
 * round-scoped token is confined to the round the request names. Methods
 * without a `round` rule are not about one round (creating a round, listing
 * every round, privacy budgets, and any RPC added later until it says which
 * round it acts in): a token minted for one round must not reach past it.
 * Ownership (domain/ownership.ts) is the handlers' business: it needs the
 * stored round or group.
 *
 * docs/SECURITY.md "RPC × role" and "Round-scoped tokens" are checked against
 * these tables (test/src/security-matrix.test.ts) and against a real cluster
 * (test/src/authorization.int.test.ts).
 */
import { tokenPolicy, type CallContext, type TokenPolicyTable } from '@secagg/core';
import { bearerToken, type Principal, type Role, type TokenVerifier } from '@secagg/auth';
import type { ClientService, CoordinatorService } from '@secagg/proto';

export const CLIENT_SERVICE_POLICY: TokenPolicyTable<typeof ClientService, Role> = {
  getRound: { roles: ['client', 'coordinator', 'operator'], round: (request) => request.roundId },
  submitUpdate: {
    roles: ['client'],
    // The round is named by the header, the stream's first frame (a stream that starts otherwise names none).
    round: (first) => (first.frame.case === 'header' ? first.frame.value.roundId : undefined),
  },
  getResult: { roles: ['client', 'coordinator'], round: (request) => request.roundId },
};

export const COORDINATOR_SERVICE_POLICY: TokenPolicyTable<typeof CoordinatorService, Role> = {
  createRound: { roles: ['coordinator'] },
  closeRound: { roles: ['coordinator'], round: (request) => request.roundId },
  listRounds: { roles: ['coordinator', 'operator'] },
  getRoundStatus: { roles: ['coordinator', 'operator'], round: (request) => request.roundId },
  setPrivacyBudget: { roles: ['coordinator'] },
  getPrivacyBudget: { roles: ['coordinator', 'operator'] },
};

/** A gateway handler's call context: the caller its token proves. */
export type GatewayCall = CallContext & { readonly principal: Principal };

/** The policies of both gateway services, authenticating callers with `tokens`. */
export function gatewayPolicies(tokens: TokenVerifier) {
  const authenticate = (ctx: CallContext) => tokens.verify(bearerToken(ctx.metadata.get('authorization')[0]));
  return {
    client: tokenPolicy(CLIENT_SERVICE_POLICY, authenticate),
    coordinator: tokenPolicy(COORDINATOR_SERVICE_POLICY, authenticate),
  };
}
