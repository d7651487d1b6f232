/**
 * The release policy's verdicts on their own (no store, no SEAL): each rule
 * once, the same refusal wherever it applies, fixed texts for the refusals
 * that follow a decryption. The handlers' use of them, with real SEAL and a
 * real store, is handlers/release-policy.test.ts.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { chooseScaleBits, type CkksParams } from '@secagg/ckks';
import { coordinateBoundOf } from '@secagg/protocol';
import { RoundConfigSchema, type RoundConfig } from '@secagg/proto';
import type { LedgerEntry, RoundKeyRow, StoredRelease } from './key-store.js';
import { planRoundPrivacy } from './privacy-plan.js';
import {
  RELEASE_REFUSALS,
  admitKeyState,
  admitNoisedSum,
  admitRelease,
  admitRoundKey,
  affordRelease,
  enforce,
  type PolicyRound,
  type PolicySettings,
  type Verdict,
} from './release-policy.js';

const SETTINGS: PolicySettings = { minClientsFloor: 2, allowUnsafeNoiseFreeRelease: false, minFloodingMarginBits: 40 };

/** The CKKS parameters CreateRoundKey would choose for `config` (the scale depends on max_clients and C). */
const paramsOf = (config: RoundConfig): CkksParams => ({
  preset: 'n2048-q54',
  encoding: 'coefficients',
  scaleBits: chooseScaleBits('n2048-q54', 'coefficients', config.maxClients, coordinateBoundOf(config)),
});
const PARAMS = paramsOf(create(RoundConfigSchema, { maxClients: 2, clipNorm: 1 }));

function round(overrides: Omit<MessageInitShape<typeof RoundConfigSchema>, '$typeName'> = {}, epsilon = 10): PolicyRound {
  const config = create(RoundConfigSchema, { vectorLength: 3_000, minClients: 2, maxClients: 2, clipNorm: 1, noiseMultiplier: 4, ...overrides });
  return {
    roundId: 'r-1',
    config,
    plan: planRoundPrivacy(config, paramsOf(config), 'add-remove'),
    budget: { privacyGroup: 'g', epsilon, delta: 1e-5, explicitlySet: true, updatedMs: 0 },
  };
}

/** The refusal of a verdict that must refuse. */
function refusalOf(verdict: Verdict<unknown>): SecaggError {
  assert.equal(verdict.admitted, false, 'refused');
  return (verdict as { refusal: SecaggError }).refusal;
}

const header = (contributionCount: number, ciphertextCount = 2) => ({ contributionCount, ciphertextCount });

describe('release policy verdicts', () => {
  it('admits an affordable round key with its cost, and refuses each rule with its own reason', () => {
    const cost = enforce(admitRoundKey(round(), PARAMS, [], SETTINGS));
    assert.ok(cost.roundEpsilon > 0 && cost.groupEpsilonAfter === cost.roundEpsilon);

    const reasons = (r: PolicyRound) => refusalOf(admitRoundKey(r, paramsOf(r.config), [], SETTINGS)).reason;
    assert.equal(reasons(round({ unsafeDisableNoise: true, noiseMultiplier: 0 })), 'unsafe_release_refused');
    assert.equal(reasons(round({ minClients: 1 })), 'below_min_clients_floor');
    assert.equal(reasons(round({ maxClients: 1_000, noiseMultiplier: 1 })), 'flooding_margin_too_small');
    const replaceOne = round({ samplingRate: 0.1 });
    replaceOne.plan = planRoundPrivacy(replaceOne.config, paramsOf(replaceOne.config), 'replace-one');
    assert.equal(reasons(replaceOne), 'sampling_needs_add_remove');
    assert.equal(reasons(round({}, cost.roundEpsilon / 2)), 'privacy_budget_exhausted');
  });

  it('one noise-free rule: the same refusal at key creation and at release; where allowed, not budgeted', () => {
    const noiseFree = round({ unsafeDisableNoise: true, noiseMultiplier: 0 });
    const atCreation = refusalOf(admitRoundKey(noiseFree, PARAMS, [], SETTINGS));
    const atRelease = refusalOf(admitRelease(noiseFree, header(2), 2, [], false, SETTINGS));
    assert.deepEqual([atRelease.code, atRelease.reason, atRelease.message], [atCreation.code, atCreation.reason, atCreation.message]);

    const allowed = { ...SETTINGS, allowUnsafeNoiseFreeRelease: true };
    assert.equal(enforce(admitRoundKey(noiseFree, PARAMS, [], allowed)).roundEpsilon, Infinity, 'charged +Infinity, whatever the budget');
    assert.equal(admitRelease(noiseFree, header(2), 2, [], false, allowed).admitted, true);
  });

  it('admits a release within [max(min_clients, floor), max_clients] of the expected ciphertext count and an affordable cost', () => {
    const r = round({ maxClients: 4 });
    assert.equal(admitRelease(r, header(2), 2, [], false, SETTINGS).admitted, true);
    assert.equal(refusalOf(admitRelease(r, header(2), 2, [], false, { ...SETTINGS, minClientsFloor: 3 })).reason, 'below_min_clients');
    assert.equal(refusalOf(admitRelease(r, header(5), 2, [], false, SETTINGS)).reason, 'above_max_clients');
    assert.equal(refusalOf(admitRelease(r, header(2, 3), 2, [], false, SETTINGS)).code, Code.InvalidArgument);

    const cost = enforce(affordRelease(r, []));
    // Enough releases of this cost that one more does not fit a budget of 10.
    const spent: LedgerEntry[] = Array.from({ length: 400 }, (_, i) => ({
      privacyGroup: 'g',
      roundId: `old-${i}`,
      noiseMultiplier: r.plan.accountingNoiseMultiplier,
      samplingRate: 1,
      epsilon: cost.roundEpsilon,
      delta: 1e-5,
      chargedMs: 0,
    }));
    assert.equal(refusalOf(admitRelease(r, header(2), 2, spent, false, SETTINGS)).reason, 'privacy_budget_exhausted');
    assert.equal(admitRelease(r, header(2), 2, spent, true, SETTINGS).admitted, true, 'a resumed release is charged already: no second budget check');
  });

  it('a round key releases once: each key state has one verdict', () => {
    const digest = new Uint8Array(32).fill(1);
    const other = new Uint8Array(32).fill(2);
    const key = (status: RoundKeyRow['status'], reason = '', claimed?: Uint8Array): RoundKeyRow => ({
      roundId: 'r-1',
      config: new Uint8Array(),
      ckks: new Uint8Array(),
      publicKey: new Uint8Array(),
      status,
      reason,
      createdMs: 0,
      claim: claimed ? { contributorsSha256: claimed, sumSha256: new Uint8Array(32) } : undefined,
    });
    const stored: StoredRelease = { roundId: 'r-1', contributorsSha256: digest, header: new Uint8Array(), releasedMs: 0 };
    const verdict = (k: RoundKeyRow, d = digest) => admitKeyState(k, d, () => stored);
    assert.deepEqual(verdict(key('ready')), { admitted: true, value: 'release' });
    assert.deepEqual(verdict(key('charged', '', digest)), { admitted: true, value: 'release' }, 'resumed');
    assert.deepEqual(verdict(key('released', '', digest)), { admitted: true, value: 'repeat' });
    const reason = (k: RoundKeyRow, d = digest) => refusalOf(verdict(k, d)).reason;
    assert.equal(reason(key('released', '', digest), other), 'already_released');
    assert.equal(reason(key('refused', 'out_of_range', digest)), 'out_of_range');
    assert.equal(reason(key('refused', 'votes_out_of_range', digest)), 'votes_out_of_range');
    assert.equal(reason(key('refused', 'out_of_range', digest), other), 'claimed_by_other_sum');
    assert.equal(reason(key('refused', 'a reason from an older version')), 'out_of_range', 'an unknown stored reason answers a fixed one');
    assert.equal(reason(key('expired')), 'key_expired');
    assert.equal(reason(key('consumed')), 'key_consumed');
    assert.throws(() => admitKeyState(key('released', '', digest), digest, () => undefined), (e: SecaggError) => e.code === Code.Internal);
  });

  it('the range check refuses a noised sum out of bounds with the one fixed text, and admits an honest one', () => {
    const r = round();
    const honest = new Float64Array(3_000).fill(0.01);
    assert.equal(admitNoisedSum(honest, r, 2).admitted, true);
    // L2 norm 10 x sqrt(3000) = 548: beyond count x C = 2 plus what sigma 4 over 3000 values explains (about 240).
    const forged = refusalOf(admitNoisedSum(new Float64Array(3_000).fill(10), r, 2));
    assert.equal(forged.reason, 'out_of_range');
    assert.equal(forged.message, RELEASE_REFUSALS.out_of_range.text);
    for (const { text } of Object.values(RELEASE_REFUSALS)) assert.doesNotMatch(text, /\d/, 'no number in a refusal that may follow a decryption');
  });
});
