/**
 * The gRPC adapter's call policy and refusal encoding, on a real grpc-js
 * server and client (port 0) serving the gateway's contracts under the
 * gateway's policy tables, with a test authenticator in place of JWTs
 * (tokens themselves are authorization.int.test.ts's business): roles and
 * round scope are enforced before the handler sees the request — for an
 * upload, before it sees the first frame — and every refusal reaches the
 * client with its reason (`secagg-reason`) and retry hint.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import {
  addService,
  bindServer,
  Code,
  createClient,
  createLogger,
  isRetryable,
  refuse,
  SecaggError,
  tokenPolicy,
  type CallContext,
  type ServiceClient,
  type TokenCaller,
  type TokenPolicyTable,
} from '@secagg/core';
import { ClientService, CoordinatorService, GetRoundResponseSchema, ListRoundsResponseSchema, SubmitUpdateResponseSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { CLIENT_SERVICE_POLICY, COORDINATOR_SERVICE_POLICY } from '@secagg/client-gateway/call-policy';
import type { Role } from '@secagg/auth';

/** The caller named by `x-test-caller: role/subject[/round]`; a call without one is refused like a token-less call. */
async function authenticate(ctx: CallContext): Promise<TokenCaller<Role>> {
  const given = ctx.metadata.get('x-test-caller')[0];
  if (typeof given !== 'string') throw refuse('missing_token', 'missing bearer token');
  const [role, subject, round] = given.split('/');
  return { role: role as Role, subject: subject!, round };
}

const as = (caller: string) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-test-caller', caller);
  return { metadata };
};

async function refusal(call: Promise<unknown>): Promise<SecaggError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof SecaggError, String(error));
    return error;
  }
  assert.fail('the call succeeded');
}

/**
 * What must not compile (checked by `tsc --build`: an `@ts-expect-error` over
 * code that compiles is itself an error). Never called.
 */
export function doesNotCompile(server: grpc.Server, handlers: Parameters<typeof addService<typeof ClientService, object>>[3]): void {
  // @ts-expect-error: a table needs an entry for every RPC of its contract (getResult is missing).
  const incomplete: TokenPolicyTable<typeof ClientService, Role> = { getRound: { roles: ['client'] }, submitUpdate: { roles: ['client'] } };
  // @ts-expect-error: a round rule reads the method's own request type (GetRoundRequest has no frame).
  const mistyped: TokenPolicyTable<typeof ClientService, Role> = { ...CLIENT_SERVICE_POLICY, getRound: { roles: ['client'], round: (r) => r.frame } };
  // @ts-expect-error: a service is served only under a policy.
  addService(server, ClientService, handlers, { logger: createLogger('never') });
  // @ts-expect-error: the policy of another service does not fit.
  addService(server, ClientService, tokenPolicy(COORDINATOR_SERVICE_POLICY, authenticate), handlers, { logger: createLogger('never') });
  void [incomplete, mistyped];
}

describe('call policy and refusals on the wire', () => {
  const server = new grpc.Server();
  let clients: ServiceClient<typeof ClientService>;
  let coordinators: ServiceClient<typeof CoordinatorService>;
  /** Frames each upload handler saw, and whether any handler ran. */
  const seen = { frames: 0, handlers: 0 };

  beforeAll(async () => {
    const options = { logger: createLogger('call-policy-test', 'silent') };
    const notServed = async () => {
      throw refuse('not_served', 'not in this test');
    };
    addService(server, ClientService, tokenPolicy(CLIENT_SERVICE_POLICY, authenticate), {
      getRound: async (request, ctx) => {
        seen.handlers++;
        return create(GetRoundResponseSchema, { round: { roundId: request.roundId, state: 1 }, publicKey: Buffer.from(ctx.principal.subject) });
      },
      submitUpdate: async (requests) => {
        seen.handlers++;
        for await (const _ of requests) seen.frames++;
        return create(SubmitUpdateResponseSchema, { receipt: { ciphertextCount: seen.frames } });
      },
      getResult: async function* (request) {
        seen.handlers++;
        if (request.roundId === 'crash') throw new Error('a bug with a secret in its message');
        throw refuse('result_streams', 'too many downloads; retry later', { retryAfterMs: 1_500 });
      },
    }, options);
    addService(server, CoordinatorService, tokenPolicy(COORDINATOR_SERVICE_POLICY, authenticate), {
      createRound: notServed,
      closeRound: notServed,
      listRounds: async () => create(ListRoundsResponseSchema, {}),
      getRoundStatus: notServed,
      setPrivacyBudget: notServed,
      getPrivacyBudget: notServed,
    }, options);
    const port = await bindServer(server, '127.0.0.1:0', grpc.ServerCredentials.createInsecure());
    const settings = { credentials: grpc.credentials.createInsecure() };
    clients = createClient(ClientService, `127.0.0.1:${port}`, settings);
    coordinators = createClient(CoordinatorService, `127.0.0.1:${port}`, settings);
  });

  afterAll(() => {
    clients?.close();
    coordinators?.close();
    server.forceShutdown();
  });

  const header = (roundId: string): SubmitUpdateRequest[] =>
    [{ frame: { case: 'header', value: { roundId, updateId: 'u1', vectorLength: 1, ciphertextCount: 1 } } }] as SubmitUpdateRequest[];

  it('a refusal arrives with its status, message, reason and retry hint; a bug arrives bland', async () => {
    const busy = await refusal((async () => { for await (const _ of clients.getResult({ roundId: 'r1' }, as('client/c1'))) void _; })());
    assert.equal(busy.code, Code.ResourceExhausted);
    assert.equal(busy.reason, 'result_streams');
    assert.equal(busy.message, 'too many downloads; retry later');
    assert.equal(busy.retryAfterMs, 1_500);
    assert.ok(isRetryable(busy));

    const bug = await refusal((async () => { for await (const _ of clients.getResult({ roundId: 'crash' }, as('client/c1'))) void _; })());
    assert.equal(bug.code, Code.Internal);
    assert.equal(bug.reason, 'internal');
    assert.equal(bug.message, 'internal error');
    assert.ok(!isRetryable(bug));
  });

  it('refuses a role the method does not allow before its handler runs', async () => {
    const before = seen.handlers;
    const denied = await refusal(clients.submitUpdate(header('r1'), as('operator/o1')));
    assert.equal(denied.code, Code.PermissionDenied);
    assert.equal(denied.reason, 'role_denied');
    assert.equal(denied.message, 'role operator may not call SubmitUpdate');
    const missing = await refusal(clients.getRound({ roundId: 'r1' }, {}));
    assert.equal(missing.reason, 'missing_token');
    assert.equal(missing.code, Code.Unauthenticated);
    assert.equal(seen.handlers, before);
  });

  it('confines a round-scoped caller to its round: unary requests, and an upload before its first frame reaches the handler', async () => {
    const other = await refusal(clients.getRound({ roundId: 'r2' }, as('client/c1/r1')));
    assert.equal(other.code, Code.PermissionDenied);
    assert.equal(other.reason, 'round_scope');
    assert.equal((await clients.getRound({ roundId: 'r1' }, as('client/c1/r1'))).round!.roundId, 'r1');

    const frames = seen.frames;
    const upload = await refusal(clients.submitUpdate(header('r2'), as('client/c1/r1')));
    assert.equal(upload.reason, 'round_scope');
    assert.equal(seen.frames, frames, 'the handler never saw the other round\'s header');
    assert.equal((await clients.submitUpdate(header('r1'), as('client/c1/r1'))).receipt!.ciphertextCount, frames + 1);
    // A stream whose first frame names no round is refused for a scoped caller.
    const unnamed = [{ frame: { case: 'trailer', value: { sha256: new Uint8Array(32) } } }] as SubmitUpdateRequest[];
    assert.equal((await refusal(clients.submitUpdate(unnamed, as('client/c1/r1')))).reason, 'round_scope');
  });

  it('refuses a round-scoped caller on calls that are not about one round', async () => {
    const denied = await refusal(coordinators.listRounds({}, as('coordinator/k1/r1')));
    assert.equal(denied.reason, 'round_scope');
    assert.match(denied.message, /^token is scoped to round r1; ListRounds needs an unscoped token$/);
    assert.deepEqual((await coordinators.listRounds({}, as('coordinator/k1'))).rounds, []);
  });
});
