/**
 * Vote rounds in the keyholder (real SQLite store, real SEAL, handlers called
 * directly): the signed statement covers the vote parameters, the cost is the
 * dp package's data-independent PATE accounting, the noise-free mechanisms
 * are exact, Confident-GNMax abstains where it must with noise, a teacher
 * voting more than its shape allows is refused (charged), and a vote round
 * that would exceed its group's budget is refused before any decryption.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { addCiphertextInto, ciphertextFormat, CkksEngine, encryptVector } from '@secagg/ckks';
import { computeVoteEpsilon } from '@secagg/dp';
import { contributorsDigest, toCkksParams } from '@secagg/protocol';
import {
  CreateRoundKeyRequestSchema,
  Encoding,
  RoundConfigSchema,
  RoundKind,
  RoundStatementSchema,
  VoteMechanism,
  VoteShape,
  type CreateRoundKeyResponse,
  type RoundConfig,
  type VoteRoundConfig,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { gatherRelease, KeyholderHarness, releaseFrames, streamOf, type GatheredRelease } from '../testing/index.js';
import { createRoundKey } from './create-round-key.js';
import { setGroupPrivacyBudget } from './privacy-budget.js';
import { releaseRound } from './release-round.js';
import { RELEASE_REFUSALS } from '../domain/release-policy.js';

const QUERIES = 6;
const CLASSES = 4;
const TRANSFER_SHA = createHash('sha256').update('transfer set v1').digest();

function voteConfig(votes: Omit<MessageInitShape<typeof RoundConfigSchema>['votes'] & object, '$typeName'>, overrides: Omit<MessageInitShape<typeof RoundConfigSchema>, '$typeName'> = {}): RoundConfig {
  return create(RoundConfigSchema, {
    kind: RoundKind.VOTES,
    vectorLength: QUERIES * CLASSES,
    minClients: 2,
    maxClients: 40,
    deadlineUnixMs: BigInt(Date.now() + 600_000),
    preset: 'n4096-q60p49', // the default: its special prime leaves a 40-bit flooding margin at sigma >= 2 for 40 teachers
    encoding: Encoding.COEFFICIENTS,
    votes: {
      queries: QUERIES,
      classes: CLASSES,
      shape: VoteShape.ONE_HOT,
      transferSetId: 'unit-transfer/v1',
      transferSetSha256: TRANSFER_SHA,
      ...votes,
    },
    ...overrides,
  });
}

/** One-hot votes of `teachers` on each query: labels[q][t] is teacher t's label on query q. */
function histogramOf(labels: number[][]): Float64Array {
  const h = new Float64Array(QUERIES * CLASSES);
  labels.forEach((row, q) => row.forEach((label) => h[q * CLASSES + label]!++));
  return h;
}

/**
 * The votes of 36 teachers: queries 0-2 nearly unanimous (top count 33-36),
 * queries 3-5 split evenly over the 4 classes (top count 9).
 */
const TEACHERS = 36;
const LABELS: number[][] = [
  Array.from({ length: TEACHERS }, () => 2),
  Array.from({ length: TEACHERS }, (_, t) => (t < 34 ? 0 : 1)),
  Array.from({ length: TEACHERS }, (_, t) => (t < 33 ? 3 : t % 4)),
  Array.from({ length: TEACHERS }, (_, t) => t % 4),
  Array.from({ length: TEACHERS }, (_, t) => (t + 1) % 4),
  Array.from({ length: TEACHERS }, (_, t) => (t + 2) % 4),
];

/**
 * The encrypted sum of `total`: split into vectors of values in [0, 1] (as
 * teachers' votes are), each encrypted under the round key, and the
 * ciphertexts added as the aggregators add them.
 */
async function encrypted(key: CreateRoundKeyResponse, total: Float64Array): Promise<Uint8Array[]> {
  const params = toCkksParams(key.ckks!);
  const format = ciphertextFormat(params);
  using engine = await CkksEngine.create(params);
  using encryptor = engine.createEncryptor(key.publicKey);
  let sum: Uint8Array[] | undefined;
  for (let piece = 0; piece < Math.ceil(Math.max(...total)); piece++) {
    const part = total.map((v) => Math.min(1, Math.max(0, v - piece)));
    const cts = [...encryptVector(encryptor, params, part)];
    if (!sum) sum = cts.map((c) => Uint8Array.from(c));
    else sum.forEach((acc, i) => addCiphertextInto(format, acc, cts[i]!));
  }
  return sum!;
}

/** Releases `ciphertexts` as the sum of `count` teachers' votes (each round with a contributors digest of its own). */
function release(roundId: string, count: number, ciphertexts: Uint8Array[], deps: KeyholderContext): Promise<GatheredRelease> {
  const contributorsSha256 = contributorsDigest([{ clientId: 'a', updateId: roundId }]);
  return gatherRelease(releaseRound(streamOf(releaseFrames(roundId, count, ciphertexts, { contributorsSha256 })), deps));
}

/** Label per query of a label release: the index of the row's 1, or -1 for an all-zero (abstained) row. */
function labelsOf(values: Float64Array): number[] {
  return Array.from({ length: QUERIES }, (_, q) => {
    const row = [...values.subarray(q * CLASSES, (q + 1) * CLASSES)];
    assert.ok(row.every((v) => v === 0 || v === 1) && row.filter((v) => v === 1).length <= 1, `row ${q} is not a label: ${row}`);
    return row.indexOf(1);
  });
}

describe('vote rounds in the keyholder (in process)', () => {
  let keyholder: KeyholderHarness;
  let deps: KeyholderContext;

  beforeAll(() => {
    keyholder = KeyholderHarness.open({ name: 'keyholder-votes', config: { minClientsFloor: 2, allowUnsafeNoiseFreeRelease: 'true' } });
    deps = keyholder.deps;
  }, 300_000);
  afterAll(() => keyholder.close(), 300_000);

  const create_ = (roundId: string, config: RoundConfig) => createRoundKey(create(CreateRoundKeyRequestSchema, { roundId, config }), deps);

  it('signs the vote parameters and charges the data-independent PATE cost', async () => {
    const votes = { mechanism: VoteMechanism.CONFIDENT_GNMAX, sigma1: 12, sigma2: 6, threshold: 20 };
    const key = await create_('cost', voteConfig(votes, { privacyGroup: 'cost' }));
    const statement = fromBinary(RoundStatementSchema, key.attestation!.statement);
    const signed = statement.config!.votes as VoteRoundConfig;
    assert.equal(statement.config!.kind, RoundKind.VOTES);
    assert.deepEqual(
      [signed.queries, signed.classes, signed.shape, signed.mechanism, signed.sigma1, signed.sigma2, signed.threshold, signed.transferSetId],
      [QUERIES, CLASSES, VoteShape.ONE_HOT, VoteMechanism.CONFIDENT_GNMAX, 12, 6, 20, 'unit-transfer/v1'],
    );
    assert.deepEqual([...signed.transferSetSha256], [...TRANSFER_SHA]);
    // The keyholder adds the CKKS error and the grid rounding to the sensitivities (~2^-10): within 1% of the pure formula.
    const pure = computeVoteEpsilon({ mechanism: 'confident-gnmax', queries: QUERIES, sigma1: 12, sigma2: 6, histogramSensitivity: 1 }, 1e-5);
    const p = key.privacy!;
    assert.ok(p.roundEpsilon >= pure.epsilon && p.roundEpsilon < pure.epsilon * 1.01, `${p.roundEpsilon} vs ${pure.epsilon}`);
    assert.ok(Math.abs(p.accountingNoiseMultiplier - pure.noiseMultiplier) / pure.noiseMultiplier < 0.01);
    assert.equal(p.noiseSigma, 6);
    assert.ok(p.floodingMarginBits >= 40, `margin ${p.floodingMarginBits}`);
  }, 300_000);

  it('noise-free (test-only): the exact histogram, the exact labels, the exact threshold', async () => {
    const h = histogramOf(LABELS);
    const hist = await create_('nf-hist', voteConfig({ mechanism: VoteMechanism.NOISY_HISTOGRAM }, { unsafeDisableNoise: true, privacyGroup: 'nf' }));
    const r = await release('nf-hist', TEACHERS, await encrypted(hist, h), deps);
    assert.ok(r.values.every((v, i) => Math.abs(v - h[i]!) < 1e-6), 'the exact sum of the votes');
    assert.deepEqual([r.header.votes!.answeredCount, r.header.votes!.abstainedCount], [0, 0]);

    const conf = await create_('nf-conf', voteConfig({ mechanism: VoteMechanism.CONFIDENT_GNMAX, threshold: 20 }, { unsafeDisableNoise: true, privacyGroup: 'nf' }));
    const c = await release('nf-conf', TEACHERS, await encrypted(conf, h), deps);
    assert.deepEqual(labelsOf(c.values), [2, 0, 3, -1, -1, -1]);
    assert.deepEqual([c.header.votes!.mechanism, c.header.votes!.answeredCount, c.header.votes!.abstainedCount], [VoteMechanism.CONFIDENT_GNMAX, 3, 3]);

    const gn = await create_('nf-gnmax', voteConfig({ mechanism: VoteMechanism.GNMAX }, { unsafeDisableNoise: true, privacyGroup: 'nf' }));
    const g = await release('nf-gnmax', TEACHERS, await encrypted(gn, h), deps);
    // Split queries are exact four-way ties, broken by each count's CKKS error (of order 1e-12): some class, never abstained.
    const labels = labelsOf(g.values);
    assert.deepEqual(labels.slice(0, 3), [2, 0, 3]);
    assert.ok(labels.slice(3).every((l) => l >= 0 && l < CLASSES));
    assert.equal(g.header.votes!.answeredCount, QUERIES);
  }, 300_000);

  it('Confident-GNMax with noise answers the confident queries with their label and abstains on the split ones', async () => {
    // Top counts 33-36 vs 9; T = 21 sits 12 votes from each, i.e. 6 sigma1 (2 per query fails with p < 2e-9);
    // the answered queries lead by 30 votes, 7 sigma2 on the difference of two counts.
    const key = await create_('conf', voteConfig({ mechanism: VoteMechanism.CONFIDENT_GNMAX, sigma1: 2, sigma2: 3, threshold: 21 }, { privacyGroup: 'conf' }));
    const r = await release('conf', TEACHERS, await encrypted(key, histogramOf(LABELS)), deps);
    assert.deepEqual(labelsOf(r.values), [2, 0, 3, -1, -1, -1]);
    assert.equal(r.header.votes!.answeredCount, 3);
    assert.equal(r.header.epsilonSpent, key.privacy!.roundEpsilon);
  }, 300_000);

  it('refuses (charged, fixed text) a histogram where a teacher voted more than once per query', async () => {
    const key = await create_('stuffed', voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 2 }, { privacyGroup: 'stuffed' }));
    // Three teachers vote one-hot; one of them also puts 30 more votes on class 1 of query 0: a count of 31 where
    // three teachers can reach 3 — 6 sigma2 beyond the noised bound (3 + 2*sqrt(2(ln 48 + 40 ln 2)) = 18.9).
    const h = histogramOf(LABELS.map((row) => row.slice(0, 3)));
    h[1]! += 30;
    await assert.rejects(release('stuffed', 3, await encrypted(key, h), deps), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.equal(e.reason, 'votes_out_of_range');
      assert.equal(e.message, RELEASE_REFUSALS.votes_out_of_range.text);
      return true;
    });
    assert.deepEqual(deps.store.ledger('stuffed').map((l) => l.roundId), ['stuffed'], 'the decryption is charged');
    assert.equal(deps.store.getRoundKey('stuffed')!.status, 'refused');
  }, 300_000);

  it('refuses a vote round its group cannot afford, and its release before any decryption', async () => {
    const group = 'votes-budget';
    const votes = { mechanism: VoteMechanism.GNMAX, sigma2: 4 };
    const first = await create_('vb-1', voteConfig(votes, { privacyGroup: group }));
    const second = await create_('vb-2', voteConfig(votes, { privacyGroup: group }));
    setGroupPrivacyBudget({ $typeName: 'secagg.keyholder.v1.SetGroupPrivacyBudgetRequest', privacyGroup: group, epsilon: 1.2 * first.privacy!.roundEpsilon, delta: 0, requestedBy: 'test' }, deps);
    await release('vb-1', TEACHERS, await encrypted(first, histogramOf(LABELS)), deps);
    await assert.rejects(release('vb-2', TEACHERS, await encrypted(second, histogramOf(LABELS)), deps), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.equal(e.reason, 'privacy_budget_exhausted');
      return true;
    });
    assert.equal(deps.store.getRoundKey('vb-2')!.status, 'ready', 'nothing decrypted, nothing charged');
    await assert.rejects(create_('vb-3', voteConfig(votes, { privacyGroup: group })), (e: SecaggError) => e.reason === 'privacy_budget_exhausted');
  }, 300_000);

  it('refuses malformed vote configurations with INVALID_ARGUMENT naming the field', async () => {
    const cases: Array<[RoundConfig, RegExp]> = [
      [voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 4 }, { vectorLength: 23 }), /config\.vector_length must equal votes\.queries \* votes\.classes = 24/],
      [voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 4 }, { clipNorm: 1 }), /config\.clip_norm must be 0/],
      [voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 0 }), /config\.votes\.sigma2 must be > 0/],
      [voteConfig({ mechanism: VoteMechanism.CONFIDENT_GNMAX, sigma2: 4, threshold: 3 }), /config\.votes\.sigma1 must be > 0/],
      [voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 4, shape: VoteShape.TOP_K, topK: 4 }), /config\.votes\.top_k must be in \[1, classes - 1 = 3\]/],
      [voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 4, transferSetSha256: new Uint8Array(31) }), /config\.votes\.transfer_set_sha256 must be 32 bytes/],
      [voteConfig({ mechanism: VoteMechanism.UNSPECIFIED, sigma2: 4 }), /config\.votes\.mechanism must be/],
      [create(RoundConfigSchema, { ...voteConfig({ mechanism: VoteMechanism.GNMAX, sigma2: 4 }), votes: undefined }), /config\.votes is required/],
    ];
    for (const [config, message] of cases) {
      await assert.rejects(create_('bad', config), (e: SecaggError) => e.code === Code.InvalidArgument && message.test(e.message), String(message));
    }
    assert.equal(deps.store.getRoundKey('bad'), undefined);
  }, 300_000);
});
