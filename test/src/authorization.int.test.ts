/**
 * The authorization matrix of docs/SECURITY.md, row by row, against a real
 * cluster: every RPC × every role (a coordinator as the owner of the round or
 * group it names, and as another coordinator) and no token; bad tokens of
 * every kind on every RPC; round-scoped tokens; ownership; attribution of
 * updates to the token's subject; the keyholder's peer identities. The tables are read from the
 * document, and every RPC of the contracts must appear in them.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, codeName, createClient, SecaggError, type ServiceClient } from '@secagg/core';
import {
  ClientService,
  CoordinatorService,
  KeyholderService,
  ReleaseRoundRequestSchema,
  ReleaseShareRequestSchema,
  RoundConfigSchema,
  RoundState,
  SubmitUpdateResponseSchema,
  UpdateHeaderSchema,
  type SubmitUpdateRequest,
} from '@secagg/proto';
import { createDevCertificates, LocalCluster } from '@secagg/local-cluster';
import { SecaggClient } from '@secagg/sdk';
import type { DescService } from '@bufbuild/protobuf';
import { inMinutes, makeUpdate, maxAbsDiff, waitForEnd } from './helpers.js';
import { claims, newSigningKey, signHs256, signJwt, unsignedJwt, withPayload, type SigningKey } from './security/jwt-forge.js';
import { statusOf, tableUnder } from './security/security-doc.js';
import { bearer, RawGrpcClient } from './fuzz/raw-client.js';
import { honestFrames, roundForUpload, serialize, sha256Of, trailerFrame, chunkFrame, type RoundForUpload } from './fuzz/update-frames.js';

type Role = 'client' | 'coordinator' | 'operator';
const ROLES: readonly Role[] = ['client', 'coordinator', 'operator'];
/** The coordinator that creates the rounds and owns the group the matrix calls name. */
const OWNER = 'owner';
/** Another coordinator: the "coordinator, not owner" column. */
const STRANGER = 'stranger';
/** The matrix' columns after the RPC: who calls (no role: no token). */
const COLUMNS: readonly { name: string; role?: Role; subject?: string }[] = [
  { name: 'client', role: 'client' },
  { name: 'coordinator', role: 'coordinator', subject: OWNER },
  { name: 'coordinator, not owner', role: 'coordinator', subject: STRANGER },
  { name: 'operator', role: 'operator' },
  { name: 'no token' },
];
const LENGTH = 300;

/** `Service.Method` names of every RPC of a service, from its descriptor. */
const rpcNames = (service: DescService) => service.methods.map((m) => `${service.name}.${m.name}`);

/** The status a promise settles with: 'OK' or the gRPC code name. */
async function outcome(call: Promise<unknown>): Promise<{ status: string; message: string }> {
  try {
    await call;
    return { status: 'OK', message: '' };
  } catch (error) {
    if (!(error instanceof SecaggError)) throw error;
    return { status: codeName(error.code), message: error.message };
  }
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) void _;
}

describe('authorization: every RPC, every role, every kind of bad token', () => {
  let cluster: LocalCluster;
  let key: SigningKey;
  let clients: ServiceClient<typeof ClientService>;
  let coordinator: ServiceClient<typeof CoordinatorService>;
  /** Rounds the matrix calls: one stays open, one is released, the others are there to be closed. */
  const rounds = { open: '', released: '', closable: '', closableScoped: '' };
  /** The owner's privacy group (that of rounds.open, which never releases) that CreateRound and the budget RPCs name. */
  let ownedGroup = '';
  let upload: RoundForUpload;
  let openCiphertexts: Uint8Array[];
  let subjects = 0;

  /** A token; a coordinator's is the owner's unless another subject is given. */
  const token = (role: string, extra: Record<string, unknown> = {}, subject = role === 'coordinator' ? OWNER : `${role}-${++subjects}`) =>
    signJwt(key.privateKey, claims(subject, role, extra));
  const sdk = (role: Role, subject?: string) =>
    new SecaggClient({
      address: cluster.gatewayAddress,
      token: token(role, {}, subject),
      caFile: cluster.certificates!.caFile,
      keyholderKeys: [cluster.keyholderVerificationKeyPem],
    });
  let groups = 0;
  /** A round config of its own privacy group: a noise-free release spends a whole group. */
  const roundConfig = (overrides: Partial<Record<string, unknown>> = {}) =>
    create(RoundConfigSchema, {
      privacyGroup: `authz-${++groups}`,
      vectorLength: LENGTH,
      minClients: 1,
      maxClients: 50,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      ...overrides,
    });

  /**
   * Each RPC of the gateway as one call with the given metadata, on the given
   * round (RPCs that are not about one round ignore it). Arguments are good,
   * so an authorized call succeeds.
   */
  const gatewayCalls: Record<string, { defaultRound: () => string; call: (metadata: grpc.Metadata, roundId: string) => Promise<unknown> }> = {
    'ClientService.GetRound': { defaultRound: () => rounds.open, call: (metadata, roundId) => clients.getRound({ roundId }, { metadata }) },
    'ClientService.SubmitUpdate': {
      defaultRound: () => rounds.open,
      call: (metadata, roundId) => clients.submitUpdate(honestFrames({ roundId, vectorLength: LENGTH }, 'authz-update', openCiphertexts), { metadata }),
    },
    'ClientService.GetResult': { defaultRound: () => rounds.released, call: (metadata, roundId) => drain(clients.getResult({ roundId }, { metadata })) },
    'CoordinatorService.CreateRound': {
      defaultRound: () => '',
      call: (metadata) => coordinator.createRound({ config: roundConfig({ privacyGroup: ownedGroup }) }, { metadata }),
    },
    'CoordinatorService.CloseRound': { defaultRound: () => rounds.closable, call: (metadata, roundId) => coordinator.closeRound({ roundId }, { metadata }) },
    'CoordinatorService.ListRounds': { defaultRound: () => '', call: (metadata) => coordinator.listRounds({ limit: 5 }, { metadata }) },
    'CoordinatorService.GetRoundStatus': {
      defaultRound: () => rounds.open,
      call: (metadata, roundId) => coordinator.getRoundStatus({ roundId }, { metadata }),
    },
    'CoordinatorService.SetPrivacyBudget': {
      defaultRound: () => '',
      call: (metadata) => coordinator.setPrivacyBudget({ privacyGroup: ownedGroup, epsilon: 5 }, { metadata }),
    },
    'CoordinatorService.GetPrivacyBudget': {
      defaultRound: () => '',
      call: (metadata) => coordinator.getPrivacyBudget({ privacyGroup: ownedGroup }, { metadata }),
    },
  };

  const matrix = () => tableUnder('RPC × role');
  /** The role a row allows first: bad tokens are presented with it, so only the token is at fault. */
  const allowedRole = (rpc: string): Role => {
    const row = matrix().rows.find((r) => r[0] === rpc)!;
    return COLUMNS.find((column, i) => column.role && statusOf(row[i + 1]!) === 'OK')!.role!;
  };

  beforeAll(async () => {
    key = newSigningKey();
    cluster = await LocalCluster.start({
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
      // Tokens from this test's own key: it can then sign whatever an attacker could.
      env: { 'client-gateway': { GATEWAY_TOKEN_PUBLIC_KEY: key.publicKeyPem } },
    });
    cluster.issueCertificate('intruder');
    const credentials = cluster.channelCredentials();
    clients = createClient(ClientService, cluster.gatewayAddress, { credentials });
    coordinator = createClient(CoordinatorService, cluster.gatewayAddress, { credentials });
    const owner = sdk('coordinator', OWNER);
    const open = await owner.createRound(roundConfig({ maxClients: 1_000 }));
    rounds.open = open.roundId;
    ownedGroup = open.config!.privacyGroup;
    rounds.closable = (await owner.createRound(roundConfig())).roundId;
    rounds.closableScoped = (await owner.createRound(roundConfig())).roundId;
    rounds.released = (await owner.createRound(roundConfig({ maxClients: 1 }))).roundId;
    const first = sdk('client');
    await first.submitUpdate(rounds.released, makeUpdate(LENGTH, 1, 0.5));
    first.close();
    assert.equal((await waitForEnd(owner, rounds.released)).state, RoundState.RELEASED);
    owner.close();
    upload = await roundForUpload(await clients.getRound({ roundId: rounds.open }, { metadata: bearer(token('client')) }));
    openCiphertexts = upload.encrypt(makeUpdate(LENGTH, 2, 0.5));
  }, 300_000);

  afterAll(async () => {
    upload?.dispose();
    clients?.close();
    coordinator?.close();
    await cluster?.stop();
  }, 300_000);

  it('the document covers every RPC of the gateway contracts, and this test can call each', () => {
    const documented = matrix().rows.map((r) => r[0]);
    const contract = [...rpcNames(ClientService), ...rpcNames(CoordinatorService)];
    assert.deepEqual([...documented].sort(), [...contract].sort(), 'docs/SECURITY.md "RPC × role" rows vs the contracts');
    assert.deepEqual(matrix().header.slice(1), COLUMNS.map((c) => c.name));
    assert.deepEqual(Object.keys(gatewayCalls).sort(), [...contract].sort());
    assert.deepEqual(tableUnder('Round-scoped tokens').rows.map((r) => r[0]).sort(), [...contract].sort());
  }, 300_000);

  it('RPC × role: each cell of the matrix, refusals first, and a refusal changes nothing', async () => {
    const { rows } = matrix();
    for (const row of rows) {
      const rpc = row[0]!;
      const cells = COLUMNS.map((column, i) => ({ column, expected: statusOf(row[i + 1]!) }));
      const ownerAllowed = cells.find((c) => c.column.subject === OWNER)!.expected === 'OK';
      cells.sort((a, b) => Number(a.expected === 'OK') - Number(b.expected === 'OK'));
      for (const { column, expected } of cells) {
        if (rpc === 'CoordinatorService.CloseRound' && expected === 'OK') {
          // Every refusal before (the other coordinator's too) left the round as it was.
          assert.equal((await coordinator.getRoundStatus({ roundId: rounds.closable }, { metadata: bearer(token('operator')) })).round!.state, RoundState.OPEN);
        }
        const { call, defaultRound } = gatewayCalls[rpc]!;
        const got = await outcome(call(bearer(column.role ? token(column.role, {}, column.subject) : undefined), defaultRound()));
        assert.equal(got.status, expected, `${rpc} as ${column.name}: ${got.status} ${got.message}`);
        if (expected === 'PERMISSION_DENIED') {
          // The other coordinator is refused for not owning what the owner may act on, else for its role.
          const why = column.subject === STRANGER && ownerAllowed ? 'belongs to another coordinator' : `role ${column.role} may not call ${rpc.split('.')[1]}`;
          assert.match(got.message, new RegExp(why));
        }
        if (expected === 'UNAUTHENTICATED') assert.match(got.message, /missing bearer token/);
      }
    }
    // Refused uploads left no trace: only the authorized client's update was committed.
    const status = await coordinator.getRoundStatus({ roundId: rounds.open }, { metadata: bearer(token('operator')) });
    assert.equal(status.round!.committedCount, 1);
  }, 300_000);

  it('bad tokens: every case of the document, on every RPC, is UNAUTHENTICATED', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Record<string, (role: Role) => grpc.Metadata> = {
      expired: (role) => bearer(signJwt(key.privateKey, claims('late', role, { iat: now - 3_900, exp: now - 300 }))),
      forged: (role) => bearer(signJwt(newSigningKey().privateKey, claims('forger', role))),
      'alg-none': (role) => bearer(unsignedJwt(claims('none', role))),
      'alg-hs256': (role) => bearer(signHs256(key.publicKeyPem, claims('confused', role))),
      'wrong-audience': (role) => bearer(token(role, { aud: 'someone-else' })),
      'wrong-issuer': (role) => bearer(token(role, { iss: 'not-secagg' })),
      'no-expiry': (role) => bearer(token(role, { exp: undefined })),
      'not-yet-valid': (role) => bearer(token(role, { nbf: now + 3_600 })),
      'issued-in-future': (role) => bearer(token(role, { iat: now + 3_600, exp: now + 7_200 })),
      'exp-2200': (role) => bearer(token(role, { exp: Date.UTC(2200, 0, 1) / 1000 })),
      'long-lived-no-iat': (role) => bearer(token(role, { iat: undefined, exp: now + 2 * 86_400 })),
      'unknown-role': () => bearer(token('admin')),
      'bad-subject': (role) => bearer(token(role, {}, 'alice:ct')),
      'bad-round-claim': (role) => bearer(token(role, { round: 42 })),
      tampered: (role) => {
        const original = token(role === 'client' ? 'operator' : 'client', {}, 'tamperer');
        return bearer(withPayload(original, claims('tamperer', role)));
      },
      garbage: () => bearer('not-a-jwt'),
      empty: () => bearer(''),
      'not-bearer': () => {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Basic ${Buffer.from('client:secret').toString('base64')}`);
        return metadata;
      },
    };
    const documented = tableUnder('Bad tokens');
    assert.deepEqual(documented.rows.map((r) => r[0]).sort(), Object.keys(cases).sort(), 'docs/SECURITY.md "Bad tokens" cases vs this test');
    let checked = 0;
    for (const rpc of matrix().rows.map((r) => r[0]!)) {
      const role = allowedRole(rpc);
      for (const [name, expected] of documented.rows.map((r) => [r[0]!, statusOf(r[2]!)] as const)) {
        const { call, defaultRound } = gatewayCalls[rpc]!;
        const got = await outcome(call(cases[name]!(role), defaultRound()));
        assert.equal(got.status, expected, `${rpc} with a ${name} token: ${got.status} ${got.message}`);
        assert.match(got.message, /invalid token|missing bearer token/);
        checked++;
      }
    }
    assert.equal(checked, matrix().rows.length * Object.keys(cases).length);
    // A valid token of the same shape works, so the refusals above are about the defects.
    assert.equal((await outcome(gatewayCalls['ClientService.GetRound']!.call(bearer(token('client')), rounds.open))).status, 'OK');
  }, 300_000);

  it('round-scoped tokens: only for the round they name, and never for calls about every round', async () => {
    const table = tableUnder('Round-scoped tokens');
    for (const row of table.rows) {
      const rpc = row[0]!;
      const role = allowedRole(rpc);
      const { call, defaultRound } = gatewayCalls[rpc]!;
      const roundId = rpc === 'CoordinatorService.CloseRound' ? rounds.closableScoped : defaultRound();
      const named = roundId || rounds.open;
      const other = named === rounds.released ? rounds.open : rounds.released;
      // Another round first: a refused close must leave the round open.
      const otherRound = await outcome(call(bearer(token(role, { round: other })), roundId));
      assert.equal(otherRound.status, statusOf(row[2]!), `${rpc} with a token scoped to another round: ${otherRound.message}`);
      if (otherRound.status === 'PERMISSION_DENIED') assert.match(otherRound.message, /token is scoped to round/);
      if (rpc === 'CoordinatorService.CloseRound') {
        const state = await coordinator.getRoundStatus({ roundId }, { metadata: bearer(token('operator')) });
        assert.equal(state.round!.state, RoundState.OPEN);
      }
      const sameRound = await outcome(call(bearer(token(role, { round: named })), roundId));
      assert.equal(sameRound.status, statusOf(row[1]!), `${rpc} with a token scoped to the round called: ${sameRound.message}`);
    }
  }, 300_000);

  it('ownership: another coordinator can neither close the owner\'s round nor set, read or spend its group, and the refusals change nothing', async () => {
    const alice = sdk('coordinator', 'alice-coordinator');
    const bob = sdk('coordinator', 'bob-coordinator');
    const asOperator = { metadata: bearer(token('operator')) };
    const denied = (pattern: RegExp) => (e: SecaggError) => {
      assert.equal(codeName(e.code), 'PERMISSION_DENIED', e.message);
      assert.match(e.message, pattern);
      return true;
    };
    const group = `owned-${++groups}`;
    const round = await alice.createRound(roundConfig({ privacyGroup: group }));
    const budget = await alice.setPrivacyBudget(group, 3);
    const allRounds = async () => (await coordinator.listRounds({ limit: 1_000 }, asOperator)).rounds.length;
    const roundsBefore = await allRounds();

    // The attack of issue 10: Bob closes Alice's round and sets her group's budget to 0.0001.
    await assert.rejects(bob.closeRound(round.roundId), denied(new RegExp(`^round ${round.roundId} belongs to another coordinator; only its owner may close it$`)));
    await assert.rejects(bob.setPrivacyBudget(group, 0.0001), denied(new RegExp(`^privacy group ${group} belongs to another coordinator; only its owner may set its budget$`)));
    await assert.rejects(bob.getPrivacyBudget(group), denied(/only its owner may read its budget/));
    await assert.rejects(bob.createRound(roundConfig({ privacyGroup: group })), denied(/only its owner may create rounds in it/));
    // Nothing changed: the round is open, the budget is Alice's, no round was added.
    assert.equal((await coordinator.getRoundStatus({ roundId: round.roundId }, asOperator)).round!.state, RoundState.OPEN);
    const after = (await coordinator.getPrivacyBudget({ privacyGroup: group }, asOperator)).budget!;
    assert.equal(after.epsilonBudget, budget.epsilonBudget);
    assert.equal(after.epsilonBudget, 3);
    assert.equal(await allRounds(), roundsBefore);

    // What any client may read, any coordinator may: the round and its status.
    assert.equal((await bob.getRoundStatus(round.roundId)).roundId, round.roundId);
    // Listings: each coordinator sees its own rounds, the operator every round.
    const bobs = await bob.createRound(roundConfig());
    assert.deepEqual((await bob.listRounds(1_000)).map((r) => r.roundId), [bobs.roundId]);
    const alices = (await alice.listRounds(1_000)).map((r) => r.roundId);
    assert.ok(alices.includes(round.roundId) && !alices.includes(bobs.roundId));

    // A claim whose action the keyholder refuses is undone: the group stays free for whoever sets it next.
    const fresh = `owned-${++groups}`;
    await assert.rejects(bob.setPrivacyBudget(fresh, -1), (e: SecaggError) => e.code === Code.InvalidArgument);
    assert.equal((await alice.setPrivacyBudget(fresh, 2)).epsilonBudget, 2);
    await assert.rejects(bob.setPrivacyBudget(fresh, 1), denied(/belongs to another coordinator/));

    // The owner may.
    assert.notEqual((await alice.closeRound(round.roundId)).state, RoundState.OPEN);
    alice.close();
    bob.close();
  }, 300_000);

  it('an update is attributed to the token subject: headers and extra fields cannot change it, nor can another client claim it', async () => {
    const owner = sdk('coordinator', 'attribution-owner');
    const roundId = (await owner.createRound(roundConfig({ minClients: 2 }))).roundId;
    const round = await roundForUpload(await clients.getRound({ roundId }, { metadata: bearer(token('client')) }));
    const aliceValues = makeUpdate(LENGTH, 11, 0.6);
    const malloryValues = makeUpdate(LENGTH, 12, 0.6);
    const alice = round.encrypt(aliceValues);
    const mallory = round.encrypt(malloryValues);
    const aliceToken = token('client', {}, 'alice');
    const malloryToken = token('client', {}, 'mallory');

    const first = await clients.submitUpdate(honestFrames(round, 'same-id', alice), { metadata: bearer(aliceToken) });
    assert.equal(first.receipt!.clientId, 'alice');

    // Mallory uses Alice's update id, says "alice" in metadata and in unknown protobuf
    // fields of the frame and of the header: none of it is an identity.
    const spoofed = bearer(malloryToken);
    for (const name of ['x-client-id', 'client-id', 'x-secagg-subject']) spoofed.set(name, 'alice');
    const unknownString = (field: number, text: string) => [(field << 3) | 2, text.length, ...Buffer.from(text)];
    const header = Buffer.from([
      ...toBinary(UpdateHeaderSchema, create(UpdateHeaderSchema, { roundId, updateId: 'same-id', vectorLength: LENGTH, ciphertextCount: mallory.length })),
      ...unknownString(5, 'alice'),
      ...unknownString(15, 'alice'),
    ]);
    const headerBytes = Buffer.from([0x0a, header.length, ...header, ...unknownString(9, 'alice')]);
    assert.ok(header.length < 128, 'one-byte length prefix');
    const raw = new RawGrpcClient(cluster.gatewayAddress, cluster.channelCredentials());
    const frames = [headerBytes, ...mallory.map((c, i) => serialize(chunkFrame(i, c))), serialize(trailerFrame(sha256Of(mallory)))];
    const spoof = await raw.clientStream(ClientService.method.submitUpdate, frames, spoofed, { kind: 'half-close' });
    raw.close();
    assert.equal(spoof.code, Code.Ok, spoof.details);
    const malloryReceipt = fromBinary(SubmitUpdateResponseSchema, spoof.responses[0]!).receipt!;
    assert.equal(malloryReceipt.clientId, 'mallory');
    assert.deepEqual(Buffer.from(malloryReceipt.sha256), Buffer.from(sha256Of(mallory)));

    // Alice's update is untouched: her retry returns her original receipt ...
    const retry = await clients.submitUpdate(honestFrames(round, 'same-id', alice), { metadata: bearer(aliceToken) });
    assert.equal(retry.receipt!.clientId, 'alice');
    assert.deepEqual(retry.receipt!.sha256, first.receipt!.sha256);
    assert.equal(retry.receipt!.committedUnixMs, first.receipt!.committedUnixMs);
    // ... her slot is still hers, and Mallory's is Mallory's.
    const again = (t: string, updateId: string, cts: Uint8Array[]) => outcome(clients.submitUpdate(honestFrames(round, updateId, cts), { metadata: bearer(t) }));
    const aliceSecond = await again(aliceToken, 'alice-2', alice);
    assert.equal(aliceSecond.status, 'ALREADY_EXISTS');
    assert.match(aliceSecond.message, /already committed update same-id/);
    const mallorySecond = await again(malloryToken, 'mallory-2', mallory);
    assert.equal(mallorySecond.status, 'ALREADY_EXISTS');

    await owner.closeRound(roundId);
    const ended = await waitForEnd(owner, roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    assert.equal(ended.committedCount, 2);
    const result = await owner.getResult(roundId);
    const expected = aliceValues.map((v, i) => v + malloryValues[i]!);
    assert.ok(maxAbsDiff(result.sum, expected) < 1e-4, 'both updates, each once');
    owner.close();
    round.dispose();
  }, 300_000);

  describe('keyholder: each RPC × peer identity, from the document', () => {
    let otherCa: string;
    beforeAll(() => {
      otherCa = mkdtempSync(join(tmpdir(), 'secagg-other-ca-'));
      // Same common name as a real aggregator, but signed by a CA the keyholder does not trust.
      createDevCertificates(otherCa, ['aggregator']);
    }, 300_000);
    afterAll(() => rmSync(otherCa, { recursive: true, force: true }), 300_000);

    const credentialsFor = (column: string): grpc.ChannelCredentials => {
      const ca = readFileSync(cluster.certificates!.caFile);
      if (column === 'no client certificate') return grpc.credentials.createSsl(ca);
      if (column === 'certificate from another CA') {
        return grpc.credentials.createSsl(ca, readFileSync(join(otherCa, 'aggregator-key.pem')), readFileSync(join(otherCa, 'aggregator.pem')));
      }
      return cluster.channelCredentials(column === 'other name from the CA' ? 'intruder' : column);
    };
    let keys = 0;
    const keyholderCalls: Record<string, (client: ServiceClient<typeof KeyholderService>) => Promise<unknown>> = {
      'KeyholderService.CreateRoundKey': (kh) => kh.createRoundKey({ roundId: `authz-kh-${++keys}`, config: roundConfig() }, { deadline: 10_000 }),
      'KeyholderService.ReleaseRound': (kh) =>
        drain(
          kh.releaseRound(
            [create(ReleaseRoundRequestSchema, { frame: { case: 'header', value: { roundId: 'authz-kh-none', contributionCount: 1, contributorsSha256: new Uint8Array(32), ciphertextCount: 1 } } })],
            { deadline: 10_000 },
          ),
        ),
      'KeyholderService.CreateKeyShare': (kh) => kh.createKeyShare({ roundId: `authz-kh-${++keys}`, config: roundConfig() }, { deadline: 10_000 }),
      'KeyholderService.DealKeyShares': (kh) => kh.dealKeyShares({ roundId: 'authz-kh-none', dealingKeys: [] }, { deadline: 10_000 }),
      'KeyholderService.AcceptKeyShares': (kh) => kh.acceptKeyShares({ roundId: 'authz-kh-none', dealingKeys: [], encryptedShares: [] }, { deadline: 10_000 }),
      'KeyholderService.SignCollectiveKey': (kh) => kh.signCollectiveKey({ roundId: 'authz-kh-none', publicKeyShares: [] }, { deadline: 10_000 }),
      'KeyholderService.ReleaseShare': (kh) =>
        drain(
          kh.releaseShare(
            [
              create(ReleaseShareRequestSchema, {
                frame: {
                  case: 'header',
                  value: { release: { roundId: 'authz-kh-none', contributionCount: 1, contributorsSha256: new Uint8Array(32), ciphertextCount: 1 } },
                },
              }),
            ],
            { deadline: 10_000 },
          ),
        ),
      'KeyholderService.SetGroupPrivacyBudget': (kh) => kh.setGroupPrivacyBudget({ privacyGroup: 'authz-kh', epsilon: 5 }, { deadline: 10_000 }),
      'KeyholderService.GetGroupPrivacyBudget': (kh) => kh.getGroupPrivacyBudget({ privacyGroup: 'authz-kh' }, { deadline: 10_000 }),
    };

    it('every cell: allowed identities reach the RPC, others are refused with the documented status', async () => {
      const table = tableUnder('Keyholder peer identities');
      assert.deepEqual(table.rows.map((r) => r[0]).sort(), rpcNames(KeyholderService).sort());
      assert.deepEqual(Object.keys(keyholderCalls).sort(), rpcNames(KeyholderService).sort());
      for (const row of table.rows) {
        for (let c = 1; c < table.header.length; c++) {
          const column = table.header[c]!;
          const expected = statusOf(row[c]!);
          const keyholder = createClient(KeyholderService, cluster.keyholderAddress, { credentials: credentialsFor(column) });
          const got = await outcome(keyholderCalls[row[0]!]!(keyholder));
          keyholder.close();
          const where = `${row[0]} as ${column}: ${got.status} ${got.message}`;
          if (expected === 'allowed') {
            // Past the identity check: success, or the RPC's own policy (ReleaseRound of an unknown round; a key share
            // asked of this cluster's single keyholder).
            assert.ok(['OK', 'NOT_FOUND'].includes(got.status) || (row[0] === 'KeyholderService.CreateKeyShare' && got.status === 'FAILED_PRECONDITION'), where);
          } else {
            assert.equal(got.status, expected, where);
            if (expected === 'PERMISSION_DENIED') assert.match(got.message, /may not call/);
          }
        }
      }
    }, 300_000);
  });
});
