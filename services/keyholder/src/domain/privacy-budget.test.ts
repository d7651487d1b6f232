/** Budgets and the durable ledger: composition, refusals, atomic charge, survival across reopen. */
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, SecaggError } from '@secagg/core';
import { computeEpsilon, computeEpsilonPld } from '@secagg/dp';
import { KeyStore, type LedgerEntry } from './key-store.js';
import { budgetOf, composedEpsilon, privacyBudgetMessage, requireAffordable } from './privacy-budget.js';
import type { RoundPrivacyPlan } from './privacy-plan.js';

const settings = { defaultBudgetEpsilon: 10, delta: 1e-5 };

function plan(z: number, q = 1): RoundPrivacyPlan {
  return {
    noise: { sigma: z, gridStep: 2 ** -20 },
    adjacency: 'add-remove',
    baseSensitivity: 1,
    l2Sensitivity: 1,
    accountingNoiseMultiplier: z,
    samplingRate: q,
    decryptionErrorBound: 1e-13,
    floodingMarginBits: 43,
  };
}

function entry(roundId: string, z: number, q = 1, privacyGroup = 'g'): LedgerEntry {
  return { privacyGroup, roundId, noiseMultiplier: z, samplingRate: q, epsilon: 1, delta: 1e-5, chargedMs: 1_000 };
}

const CLAIM = { contributorsSha256: new Uint8Array(32), sumSha256: new Uint8Array(32) };

function insertKey(store: KeyStore, roundId: string): void {
  store.insertRoundKey({ roundId, config: new Uint8Array(1), ckks: new Uint8Array(1), publicKey: new Uint8Array(1), sealedSecretKey: new Uint8Array(16).fill(7), createdMs: 1 });
}

/** The store's path for one release: a key, its charge, its recorded release. */
function chargeAndRelease(store: KeyStore, charge: LedgerEntry): void {
  insertKey(store, charge.roundId);
  assert.ok(store.chargeRelease(charge.roundId, CLAIM, charge));
  assert.ok(store.recordRelease(release(charge.roundId)));
}

function release(roundId: string) {
  return { roundId, contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), sum: new Uint8Array(8), releasedMs: 1_000 };
}

describe('privacy budget', () => {
  it('composes RDP over heterogeneous releases (not a sum of epsilons), grouping equal ones', () => {
    const charges = [
      { noiseMultiplier: 2, samplingRate: 1 },
      { noiseMultiplier: 1.5, samplingRate: 0.1 },
      { noiseMultiplier: 2, samplingRate: 1 },
    ];
    const expected = computeEpsilon(
      [
        { noiseMultiplier: 2, samplingRate: 1, steps: 2 },
        { noiseMultiplier: 1.5, samplingRate: 0.1, steps: 1 },
      ],
      1e-5,
    ).epsilon;
    assert.equal(composedEpsilon(charges, 1e-5), expected);
    const single = composedEpsilon([charges[0]!], 1e-5);
    assert.ok(composedEpsilon([charges[0]!, charges[0]!], 1e-5) < 2 * single, 'composition must beat adding epsilons');
    assert.equal(composedEpsilon([], 1e-5), 0);
  });

  it('a noise-free release (multiplier 0) makes the group epsilon infinite', () => {
    assert.equal(composedEpsilon([{ noiseMultiplier: 0, samplingRate: 1 }], 1e-5), Infinity);
  });

  it('refuses a release the budget cannot afford, naming the figures', () => {
    const budget = { privacyGroup: 'g', epsilon: 1, delta: 1e-5, explicitlySet: true, updatedMs: 0 };
    const one = requireAffordable(budget, [], plan(8), 'r1');
    assert.ok(one.roundEpsilon > 0 && one.roundEpsilon <= 1);
    assert.throws(
      () => requireAffordable(budget, Array.from({ length: 20 }, (_, i) => entry(`r${i}`, 8)), plan(8), 'r21'),
      (e: SecaggError) => {
        assert.equal(e.code, Code.FailedPrecondition);
        assert.equal(e.reason, 'privacy_budget_exhausted');
        assert.match(e.message, /group "g" exhausted: round r21 would bring it to epsilon [\d.]+ at delta 0\.00001, above its budget 1\.000/);
        return true;
      },
    );
  });

  it('the pld accountant gives consistent, smaller budgets than rdp for the same ledger (KEYHOLDER_ACCOUNTANT)', () => {
    const charges = [
      ...Array.from({ length: 300 }, () => ({ noiseMultiplier: 1.1, samplingRate: 0.01 })),
      { noiseMultiplier: 2, samplingRate: 1 },
      ...Array.from({ length: 200 }, () => ({ noiseMultiplier: 0.9, samplingRate: 0.02 })),
    ];
    const rdp = composedEpsilon(charges, 1e-5, 'rdp');
    const pld = composedEpsilon(charges, 1e-5, 'pld');
    assert.equal(rdp, composedEpsilon(charges, 1e-5), 'rdp stays the default');
    const grouped = [
      { noiseMultiplier: 1.1, samplingRate: 0.01, steps: 300 },
      { noiseMultiplier: 2, samplingRate: 1, steps: 1 },
      { noiseMultiplier: 0.9, samplingRate: 0.02, steps: 200 },
    ];
    assert.equal(pld, computeEpsilonPld(grouped, 1e-5).epsilon);
    assert.ok(pld > 0 && pld < rdp, `pld ${pld} must be below rdp ${rdp}`);
    assert.ok(composedEpsilon(charges.slice(0, 300), 1e-5, 'pld') < pld, 'more releases never cost less');
    assert.equal(composedEpsilon([], 1e-5, 'pld'), 0);
    assert.equal(composedEpsilon([{ noiseMultiplier: 0, samplingRate: 1 }], 1e-5, 'pld'), Infinity);

    // A budget between the two: the operator's accountant decides whether one more release fits.
    const ledger = Array.from({ length: 999 }, (_, i) => entry(`r${i}`, 1.1, 0.01));
    const costRdp = composedEpsilon([...ledger, { noiseMultiplier: 1.1, samplingRate: 0.01 }], 1e-5, 'rdp');
    const costPld = composedEpsilon([...ledger, { noiseMultiplier: 1.1, samplingRate: 0.01 }], 1e-5, 'pld');
    const between = (costRdp + costPld) / 2;
    const explicit = { privacyGroup: 'g', epsilon: between, delta: 1e-5, explicitlySet: true, updatedMs: 0 };
    assert.throws(() => requireAffordable({ ...explicit, accountant: 'rdp' }, ledger, plan(1.1, 0.01), 'r1000'), /exhausted/);
    assert.throws(() => requireAffordable(explicit, ledger, plan(1.1, 0.01), 'r1000'), /exhausted/, 'no accountant = rdp');
    const fits = requireAffordable({ ...explicit, accountant: 'pld' }, ledger, plan(1.1, 0.01), 'r1000');
    assert.equal(fits.groupEpsilonAfter, costPld);
    assert.ok(fits.groupEpsilonBefore < fits.groupEpsilonAfter && fits.roundEpsilon < fits.groupEpsilonAfter);
  });

  it('budgetOf carries the configured accountant into what the keyholder reports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyholder-accountant-'));
    try {
      const store = new KeyStore(dir);
      for (let i = 0; i < 50; i++) chargeAndRelease(store, entry(`r${i}`, 1, 0.05));
      assert.equal(budgetOf(store, settings, 'g').accountant, undefined, 'absent: rdp');
      assert.equal(budgetOf(store, { ...settings, accountant: 'rdp' }, 'g').accountant, 'rdp');
      assert.equal(budgetOf(store, { ...settings, accountant: 'pld' }, 'g').accountant, 'pld');
      const viaRdp = privacyBudgetMessage(store, { ...settings, accountant: 'rdp' }, 'g');
      const viaPld = privacyBudgetMessage(store, { ...settings, accountant: 'pld' }, 'g');
      assert.equal(viaRdp.epsilonSpent, computeEpsilon([{ noiseMultiplier: 1, samplingRate: 0.05, steps: 50 }], 1e-5).epsilon);
      assert.equal(viaPld.epsilonSpent, computeEpsilonPld([{ noiseMultiplier: 1, samplingRate: 0.05, steps: 50 }], 1e-5).epsilon);
      assert.ok(viaPld.epsilonSpent < viaRdp.epsilonSpent);
      assert.equal(viaPld.releases.length, 50);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sampling makes a round cheaper', () => {
    assert.ok(composedEpsilon([{ noiseMultiplier: 1, samplingRate: 0.01 }], 1e-5) < composedEpsilon([{ noiseMultiplier: 1, samplingRate: 1 }], 1e-5));
  });
});

describe('key store ledger', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyholder-ledger-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps budgets and charges across a reopen (a restarted keyholder)', () => {
    let store = new KeyStore(dir);
    store.setBudget({ privacyGroup: 'g', epsilon: 3, delta: 1e-6, updatedMs: 5 });
    chargeAndRelease(store, entry('r1', 2));
    chargeAndRelease(store, { ...entry('r2', 0), epsilon: Infinity });
    store.close();
    store = new KeyStore(dir);
    assert.deepEqual(store.getBudget('g'), { privacyGroup: 'g', epsilon: 3, delta: 1e-6, updatedMs: 5 });
    const ledger = store.ledger('g');
    assert.deepEqual(ledger.map((e) => e.roundId), ['r1', 'r2']);
    assert.equal(ledger[1]!.epsilon, Infinity);
    const message = privacyBudgetMessage(store, settings, 'g');
    assert.equal(message.epsilonSpent, Infinity);
    assert.equal(message.epsilonRemaining, 0);
    assert.equal(message.releases.length, 2);
    store.close();
  });

  it('a refusal inside the charge transaction stores neither the charge nor a claim on the key', () => {
    const store = new KeyStore(dir);
    chargeAndRelease(store, entry('r1', 2));
    insertKey(store, 'r2');
    assert.throws(() =>
      store.chargeRelease('r2', CLAIM, entry('r2', 2), (ledger) => {
        assert.equal(ledger.length, 1, 'the check sees the ledger as it is in the transaction');
        throw new Error('over budget');
      }),
    );
    assert.equal(store.getRoundKey('r2')!.status, 'ready');
    assert.equal(store.getRelease('r2'), undefined);
    assert.deepEqual(store.ledger('g').map((e) => e.roundId), ['r1']);
    store.close();
  });

  it('an unknown group has the default budget and nothing spent', () => {
    const store = new KeyStore(dir);
    const budget = budgetOf(store, settings, 'fresh');
    assert.deepEqual(budget, { privacyGroup: 'fresh', epsilon: 10, delta: 1e-5, explicitlySet: false, updatedMs: 0 });
    const message = privacyBudgetMessage(store, settings, 'fresh');
    assert.equal(message.epsilonSpent, 0);
    assert.equal(message.epsilonRemaining, 10);
    store.close();
  });
});
