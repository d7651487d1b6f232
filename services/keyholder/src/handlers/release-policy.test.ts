/**
 * The keyholder's release policy in process (real SQLite store, real SEAL on
 * the small n2048-q54 preset, handlers called directly): flooding refusal,
 * budget refusal before any decryption, atomic charge, fault after charge,
 * replace-one adjacency.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { contributorsDigest, toCkksParams } from '@secagg/protocol';
import {
  CreateRoundKeyRequestSchema,
  Encoding,
  RoundConfigSchema,
  type CreateRoundKeyResponse,
  type ReleaseRoundResponse,
  type RoundConfig,
} from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import type { KeyholderContext } from '../keyholder-context.js';
import { KeyholderHarness, releaseFrames, streamOf } from '../testing/index.js';
import { createRoundKey } from './create-round-key.js';
import { getGroupPrivacyBudget, setGroupPrivacyBudget } from './privacy-budget.js';
import { releaseRound } from './release-round.js';
import { RELEASE_REFUSALS } from '../domain/release-policy.js';

const LENGTH = 3_000; // two ciphertexts of n2048 coefficients

function roundConfig(overrides: Omit<MessageInitShape<typeof RoundConfigSchema>, '$typeName'> = {}): RoundConfig {
  return create(RoundConfigSchema, {
    vectorLength: LENGTH,
    minClients: 2,
    maxClients: 2,
    deadlineUnixMs: BigInt(Date.now() + 600_000),
    clipNorm: 1,
    noiseMultiplier: 4,
    preset: 'n2048-q54',
    encoding: Encoding.COEFFICIENTS,
    privacyGroup: 'unit',
    ...overrides,
  });
}

/** Encrypts `updates` (each clipped already) under the round key and sums them in the plaintext domain of SEAL. */
async function encryptedSum(key: CreateRoundKeyResponse, updates: Float64Array[]): Promise<Uint8Array[]> {
  const params = toCkksParams(key.ckks!);
  using engine = await CkksEngine.create(params);
  using encryptor = engine.createEncryptor(key.publicKey);
  const total = new Float64Array(LENGTH);
  for (const u of updates) for (let i = 0; i < LENGTH; i++) total[i]! += u[i]!;
  // One encryption of the total stands for the aggregators' sum: the keyholder cannot tell the difference.
  return [...encryptVector(encryptor, params, total)];
}

async function collect(stream: AsyncIterable<ReleaseRoundResponse>): Promise<ReleaseRoundResponse[]> {
  const out: ReleaseRoundResponse[] = [];
  for await (const r of stream) out.push(r);
  return out;
}

describe('keyholder release policy (in process)', () => {
  let keyholder: KeyholderHarness;
  let deps: KeyholderContext;
  const updates = [new Float64Array(LENGTH).fill(0.01), new Float64Array(LENGTH).fill(-0.005)];

  const context = (overrides: Partial<KeyholderConfig>) => keyholder.context(overrides);

  beforeAll(() => {
    // Rounds of two clients keep these sums small; the floor itself has its own test (floor: 3 by default).
    keyholder = KeyholderHarness.open({ name: 'keyholder-policy', config: { minClientsFloor: 2 } });
    deps = keyholder.deps;
  }, 300_000);
  afterAll(() => keyholder.close(), 300_000);

  it('refuses to create a round whose noise does not flood the decryption error, storing nothing', async () => {
    await assert.rejects(
      createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'flood-low', config: roundConfig({ maxClients: 1_000, noiseMultiplier: 1 }) }), deps),
      (e: SecaggError) => {
        assert.equal(e.code, Code.FailedPrecondition);
        assert.equal(e.reason, 'flooding_margin_too_small');
        assert.match(e.message, /flooding margin \d+\.\d bits is below the keyholder's minimum 40/);
        assert.match(e.message, /raise the noise multiplier .*lower max_clients.*larger modulus/);
        return true;
      },
    );
    assert.equal(deps.store.getRoundKey('flood-low'), undefined);
  }, 300_000);

  it('states the cost and the margin when it creates a round', async () => {
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'cost', config: roundConfig({ privacyGroup: 'cost' }) }), deps);
    const p = key.privacy!;
    assert.ok(p.floodingMarginBits >= 40, `margin ${p.floodingMarginBits}`);
    assert.equal(p.noiseSigma, 4);
    assert.ok(p.l2Sensitivity > 1 && p.l2Sensitivity < 1.01, `sensitivity ${p.l2Sensitivity}`);
    assert.ok(Math.abs(p.accountingNoiseMultiplier - 4 / p.l2Sensitivity) < 1e-12);
    assert.ok(p.roundEpsilon > 0 && p.roundEpsilon === p.groupEpsilonAfter);
    assert.equal(p.epsilonBudget, 10);
    assert.equal(p.delta, 1e-5);
  }, 300_000);

  it('exhausts a budget: the next release is refused before anything is read or decrypted, the next round is refused', async () => {
    const group = 'exhaust';
    const a = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'ex-a', config: roundConfig({ privacyGroup: group }) }), deps);
    const b = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'ex-b', config: roundConfig({ privacyGroup: group }) }), deps);
    const one = a.privacy!.roundEpsilon;
    // Room for one release, not two (two compose to about sqrt(2)x one or more).
    setGroupPrivacyBudget({ $typeName: 'secagg.keyholder.v1.SetGroupPrivacyBudgetRequest', privacyGroup: group, epsilon: 1.2 * one, delta: 0, requestedBy: 'test' }, deps);

    const released = await collect(releaseRound(streamOf(releaseFrames('ex-a', 2, await encryptedSum(a, updates))), deps));
    assert.equal(released[0]!.frame.case, 'header');
    if (released[0]!.frame.case === 'header') assert.equal(released[0]!.frame.value.epsilonSpent, one);

    // Only the header: the refusal comes before any ciphertext is awaited, so certainly before a decryption.
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('ex-b', 2, [], { ciphertextCount: 2 })), deps)), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.equal(e.reason, 'privacy_budget_exhausted');
      return true;
    });
    // With the ciphertexts too: still refused, nothing stored, the key untouched.
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('ex-b', 2, await encryptedSum(b, updates))), deps)), /privacy budget of group "exhaust" exhausted/);
    assert.equal(deps.store.getRelease('ex-b'), undefined);
    assert.equal(deps.store.getRoundKey('ex-b')!.status, 'ready');

    const budget = getGroupPrivacyBudget({ $typeName: 'secagg.keyholder.v1.GetGroupPrivacyBudgetRequest', privacyGroup: group }, deps).budget!;
    assert.deepEqual(budget.releases.map((r) => r.roundId), ['ex-a']);
    assert.equal(budget.epsilonSpent, one);
    assert.ok(Math.abs(budget.epsilonRemaining - 0.2 * one) < 1e-9);

    await assert.rejects(
      createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'ex-c', config: roundConfig({ privacyGroup: group }) }), deps),
      (e: SecaggError) => e.code === Code.FailedPrecondition && e.reason === 'privacy_budget_exhausted',
    );
    assert.equal(deps.store.getRoundKey('ex-c'), undefined);
  }, 300_000);

  it('a crash after the charge resumes: the retry decrypts the same sum under the same single charge and releases', async () => {
    const group = 'fault';
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'fault-a', config: roundConfig({ privacyGroup: group }) }), deps);
    const sum = await encryptedSum(key, updates);
    const crashing: KeyholderContext = {
      ...deps,
      afterCharge: () => {
        throw new Error('simulated crash after the charge');
      },
    };
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('fault-a', 2, sum)), crashing)), /simulated crash/);
    assert.deepEqual(deps.store.ledger(group).map((e) => e.roundId), ['fault-a']);
    assert.equal(deps.store.getRoundKey('fault-a')!.status, 'charged', 'the key is kept for the resumed release');

    // Another sum under the same digest, or other contributors, cannot use the charged key.
    const other = await encryptedSum(key, [new Float64Array(LENGTH).fill(0.02), updates[1]!]);
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('fault-a', 2, other)), deps)), (e: SecaggError) => e.reason === 'claimed_by_other_sum');
    await assert.rejects(
      collect(releaseRound(streamOf(releaseFrames('fault-a', 2, sum, { contributorsSha256: contributorsDigest([{ clientId: 'b', updateId: 'v' }]) })), deps)),
      (e: SecaggError) => e.reason === 'claimed_by_other_sum',
    );

    const again = await collect(releaseRound(streamOf(releaseFrames('fault-a', 2, sum)), deps));
    assert.equal(again[0]!.frame.case, 'header');
    assert.equal(deps.store.getRoundKey('fault-a')!.status, 'released');
    assert.equal(deps.store.ledger(group).length, 1, 'no second charge');
    const repeated = await collect(releaseRound(streamOf(releaseFrames('fault-a', 2, sum)), deps));
    assert.deepEqual(repeated, again, 'a repeat gets the stored release');
    // Another contributors digest is a different release: refused.
    await assert.rejects(
      collect(releaseRound(streamOf(releaseFrames('fault-a', 2, sum, { contributorsSha256: contributorsDigest([{ clientId: 'b', updateId: 'v' }]) })), deps)),
      (e: SecaggError) => e.code === Code.FailedPrecondition && e.reason === 'already_released',
    );
  }, 300_000);

  it('two concurrent releases of one round (one stalled mid-stream) both get the one stored release, charged once', async () => {
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'twice', config: roundConfig({ privacyGroup: 'twice' }) }), deps);
    const sum = await encryptedSum(key, updates);
    let resume!: () => void;
    const stalled = new Promise<void>((resolve) => (resume = resolve));
    const slow = (async function* () {
      const all = [...releaseFrames('twice', 2, sum)];
      yield all[0]!; // the header, then the stream stalls (a frozen aggregator)
      await stalled;
      yield* all.slice(1);
    })();
    const first = collect(releaseRound(slow, deps));
    const second = await collect(releaseRound(streamOf(releaseFrames('twice', 2, sum)), deps));
    resume();
    assert.deepEqual(await first, second);
    assert.equal(deps.store.ledger('twice').length, 1);
  }, 300_000);

  it('every decryption is charged: a forged aggregate is refused on the NOISED sum, with one fixed text, charged, the key destroyed', async () => {
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'forged', config: roundConfig({ privacyGroup: 'forged' }) }), deps);
    // L2 norm 3 x sqrt(3000) = 164 against count x C = 2: far beyond what the noise (sigma 4 per value) can explain.
    const forged = await encryptedSum(key, [new Float64Array(LENGTH).fill(3)]);
    let message = '';
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('forged', 2, forged)), deps)), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.equal(e.reason, 'out_of_range');
      message = e.message;
      return true;
    });
    assert.equal(message, RELEASE_REFUSALS.out_of_range.text, 'the fixed text');
    assert.doesNotMatch(message, /\d/, 'no number in a refusal that follows a decryption');
    assert.equal(deps.store.ledger('forged').length, 1, 'the decryption is charged');
    assert.equal(deps.store.getRelease('forged'), undefined);
    assert.equal(deps.store.getRoundKey('forged')!.status, 'refused');
    // A retry gets the same refusal, with no second decryption or charge.
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('forged', 2, forged)), deps)), (e: SecaggError) => e.message === message);
    assert.equal(deps.store.ledger('forged').length, 1);
  }, 300_000);

  it('refuses a sum whose values are each within the noised per-value bound but whose L2 norm no noised honest sum reaches', async () => {
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'spread', config: roundConfig({ privacyGroup: 'spread' }) }), deps);
    const spread = await encryptedSum(key, [Float64Array.from({ length: LENGTH }, (_, i) => (i % 2 ? 3 : -3))]);
    await assert.rejects(collect(releaseRound(streamOf(releaseFrames('spread', 2, spread)), deps)), (e: SecaggError) => e.reason === 'out_of_range');
    assert.equal(deps.store.ledger('spread').length, 1);
  }, 300_000);

  it("refuses rounds below the operator's min-clients floor at creation, and releases below it", async () => {
    const floored = context({ minClientsFloor: 3 });
    await assert.rejects(
      createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'few', config: roundConfig({ privacyGroup: 'few', minClients: 2 }) }), floored),
      (e: SecaggError) => e.code === Code.FailedPrecondition && e.reason === 'below_min_clients_floor' && /floor of 3/.test(e.message),
    );
    assert.equal(deps.store.getRoundKey('few'), undefined);
    // A round created under a lower floor cannot release below a floor raised since.
    const key = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'raised', config: roundConfig({ privacyGroup: 'raised' }) }), deps);
    await assert.rejects(
      collect(releaseRound(streamOf(releaseFrames('raised', 2, await encryptedSum(key, updates))), floored)),
      (e: SecaggError) => e.reason === 'below_min_clients' && /floor 3/.test(e.message),
    );
    assert.equal(deps.store.ledger('raised').length, 0, 'refused before any decryption');
  }, 300_000);

  it('replace-one adjacency doubles the sensitivity (costs more) and refuses Poisson sampling', async () => {
    const replace = context({ adjacency: 'replace-one' });
    const addRemove = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'adj-1', config: roundConfig({ privacyGroup: 'adj' }) }), deps);
    const replaceOne = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'adj-2', config: roundConfig({ privacyGroup: 'adj2' }) }), replace);
    assert.ok(Math.abs(replaceOne.privacy!.l2Sensitivity - 2 * addRemove.privacy!.l2Sensitivity) < 1e-3);
    assert.ok(replaceOne.privacy!.roundEpsilon > addRemove.privacy!.roundEpsilon);
    await assert.rejects(
      createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'adj-3', config: roundConfig({ privacyGroup: 'adj3', samplingRate: 0.1 }) }), replace),
      (e: SecaggError) => e.code === Code.FailedPrecondition && e.reason === 'sampling_needs_add_remove',
    );
    const sampled = await createRoundKey(create(CreateRoundKeyRequestSchema, { roundId: 'adj-4', config: roundConfig({ privacyGroup: 'adj4', samplingRate: 0.1 }) }), deps);
    assert.equal(sampled.privacy!.samplingRate, 0.1);
    assert.ok(sampled.privacy!.roundEpsilon < addRemove.privacy!.roundEpsilon);
  }, 300_000);

  it('budgets: the operator ceiling and delta limits hold, and an invalid group is refused', () => {
    const set = (epsilon: number, delta = 0, privacyGroup = 'limits') =>
      setGroupPrivacyBudget({ $typeName: 'secagg.keyholder.v1.SetGroupPrivacyBudgetRequest', privacyGroup, epsilon, delta, requestedBy: 'test' }, deps);
    assert.throws(() => set(11), (e: SecaggError) => e.code === Code.InvalidArgument && e.reason === 'budget_above_ceiling');
    assert.throws(() => set(0), (e: SecaggError) => e.code === Code.InvalidArgument);
    assert.throws(() => set(Infinity), (e: SecaggError) => e.code === Code.InvalidArgument);
    assert.throws(() => set(1, 1e-3), (e: SecaggError) => e.code === Code.InvalidArgument);
    assert.throws(() => set(1, 0, 'bad group!'), (e: SecaggError) => e.code === Code.InvalidArgument);
    const budget = set(2, 1e-7).budget!;
    assert.equal(budget.epsilonBudget, 2);
    assert.equal(budget.delta, 1e-7);
    assert.equal(budget.explicitlySet, true);
  }, 300_000);
});
