/**
 * Cross-cutting call policy, declared per method in one table and applied
 * once, by `addService`, around every handler (Connect-ES interceptors;
 * issue 13 item 4). Handlers never check who calls them.
 *
 * A table is a mapped type over the generated service's method names, so a
 * service whose contract gains an RPC does not compile until the RPC has its
 * entry, and `addService` takes no service without a policy. Three concerns:
 *
 *  - roles: a bearer-token caller's role must be one the method allows
 *    (PERMISSION_DENIED, `role_denied`);
 *  - round scope: a round-scoped token may act only in its own round — the
 *    round the request names, or for a stream the round its first message
 *    names, read by the method's `round` rule; a method without one is not
 *    about one round and refuses round-scoped tokens (`round_scope`);
 *  - peer identity: a service-to-service method allows one identity, the
 *    common name of the verified mutual-TLS client certificate
 *    (UNAUTHENTICATED `no_peer_certificate`, PERMISSION_DENIED `peer_denied`).
 *
 * docs/SECURITY.md's matrices are checked against the tables
 * (test/src/security-matrix.test.ts).
 */
import type { DescMethod, MessageShape } from '@bufbuild/protobuf';
import { refuse } from '../errors.js';
import type { AnyService, CallContext, MethodShape } from './types.js';

/** A caller proven by a bearer token. */
export interface TokenCaller<Role extends string = string> {
  readonly subject: string;
  readonly role: Role;
  /** When set, the token is only valid for this round. */
  readonly round: string | undefined;
}

/** Who may call a method with a bearer token. */
export interface TokenRule<M extends MethodShape, Role extends string> {
  /** The roles that may call the method. */
  readonly roles: readonly Role[];
  /**
   * The round the request acts in (for a client stream: its first message;
   * undefined when that message names none). Absent: the method is not about
   * one round, and a round-scoped token may not call it.
   */
  readonly round?: (request: MessageShape<M['input']>) => string | undefined;
}

/** Who may call a method service-to-service: one peer identity (a name the service resolves to a certificate name). */
export interface PeerRule<Peer extends string> {
  readonly peer: Peer;
}

/** One {@link TokenRule} for every method of `S`. */
export type TokenPolicyTable<S extends AnyService, Role extends string> = {
  readonly [K in keyof S['method']]: TokenRule<S['method'][K], Role>;
};

/** One {@link PeerRule} for every method of `S`. */
export type PeerPolicyTable<S extends AnyService, Peer extends string> = {
  readonly [K in keyof S['method']]: PeerRule<Peer>;
};

/**
 * What `addService` runs for every call of a method of `S`: `admit` before
 * the handler (before a stream's first message is read), `inspect` with the
 * request (a stream's first message) before the handler sees it. `admit`
 * returns what the handler's context gains (the caller).
 */
export interface CallPolicy<S extends AnyService, Extra extends object> {
  /** Ties the policy to its service's methods: a policy of another service does not type-check. */
  readonly methods: { readonly [K in keyof S['method']]: unknown };
  admit(method: DescMethod, ctx: CallContext): Promise<Extra> | Extra;
  inspect(method: DescMethod, request: unknown, ctx: CallContext & Extra): void;
}

const rpcName = (method: DescMethod) => method.name;

/**
 * The policy of a bearer-token service: `authenticate` proves the caller
 * (UNAUTHENTICATED when it cannot), then the method's rule decides.
 */
export function tokenPolicy<S extends AnyService, Role extends string, Caller extends TokenCaller<Role>>(
  table: TokenPolicyTable<S, Role>,
  authenticate: (ctx: CallContext) => Promise<Caller>,
): CallPolicy<S, { readonly principal: Caller }> {
  const ruleOf = (method: DescMethod) => (table as Record<string, TokenRule<MethodShape, Role>>)[method.localName]!;
  return {
    methods: table,
    async admit(method, ctx) {
      const principal = await authenticate(ctx);
      const rule = ruleOf(method);
      if (!rule.roles.includes(principal.role)) refuseRole(principal.role, method);
      if (principal.round !== undefined && !rule.round) {
        throw refuse('round_scope', `token is scoped to round ${principal.round}; ${rpcName(method)} needs an unscoped token`);
      }
      return { principal };
    },
    inspect(method, request, ctx) {
      const scope = ctx.principal.round;
      if (scope === undefined) return;
      const round = ruleOf(method).round!(request as never);
      if (round !== scope) throw refuse('round_scope', `token is scoped to round ${scope}`);
    },
  };
}

function refuseRole(role: string, method: DescMethod): never {
  throw refuse('role_denied', `role ${role} may not call ${rpcName(method)}`);
}

export interface PeerPolicyOptions<Peer extends string> {
  /** The certificate common name of each peer identity the table names. */
  identities: Readonly<Record<Peer, string>>;
  /**
   * Plaintext development mode: the listener has no TLS, so no caller has an
   * identity and every call passes (the service logs this loudly at start-up).
   */
  insecure: boolean;
}

/** The policy of a mutual-TLS service: the verified client certificate's common name must be the method's peer. */
export function peerPolicy<S extends AnyService, Peer extends string>(
  table: PeerPolicyTable<S, Peer>,
  options: PeerPolicyOptions<Peer>,
): CallPolicy<S, object> {
  return {
    methods: table,
    admit(method, ctx) {
      const allowed = options.identities[(table as Record<string, PeerRule<Peer>>)[method.localName]!.peer];
      const certificate = ctx.peerCertificate;
      if (!certificate) {
        if (options.insecure) return {};
        throw refuse('no_peer_certificate', 'a client certificate is required');
      }
      const name = certificate.subject?.CN;
      if (name !== allowed) throw refuse('peer_denied', `certificate "${String(name)}" may not call ${rpcName(method)}; only "${allowed}" may`);
      return {};
    },
    inspect() {},
  };
}

/**
 * No policy: every call of every method passes. Only for tooling that serves
 * a contract without being a secagg service (the benchmarks' sink).
 */
export function openPolicy<S extends AnyService>(service: S): CallPolicy<S, object> {
  return {
    methods: service.method as { readonly [K in keyof S['method']]: unknown },
    admit: () => ({}),
    inspect() {},
  };
}
