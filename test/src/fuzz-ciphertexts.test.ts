/**
 * Fuzz, in process: mutated ciphertexts of four round formats against the
 * validator and SEAL (see fuzz/validator-property.ts). This file carries most
 * of the CI fuzz budget (10,000 cases); the RPC-level fuzz is in
 * fuzz-rpc.int.test.ts. Replay a run with SECAGG_FUZZ_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { buildValidatorTargets, runValidatorProperty, type ValidatorTargets } from './fuzz/validator-property.js';
import { fuzzSeed, seedFor } from './fuzz/settings.js';

/** Cases of this file in CI. */
export const VALIDATOR_CASES = 10_000;

describe('fuzz: mutated ciphertexts against the validator and SEAL', () => {
  let built: ValidatorTargets;
  const seed = fuzzSeed();
  beforeAll(async () => {
    built = await buildValidatorTargets();
  });
  afterAll(() => built?.dispose());

  it(`${VALIDATOR_CASES} cases: the oracle's verdict, never a throw, and what passes loads in SEAL`, () => {
    console.log(`fuzz seed ${seed} (replay: SECAGG_FUZZ_SEED=${seed})`);
    console.log(`fuzz-ciphertexts: seed ${seed}`);
    const stats = runValidatorProperty(built.targets, { numRuns: VALIDATOR_CASES, seed: seedFor(seed, 'validator') });
    console.log(`${stats.cases} cases: ${stats.accepted} accepted and decrypted by SEAL, ${stats.refused} refused before SEAL`);
    assert.equal(stats.cases, VALIDATOR_CASES);
    // Both sides of the property were exercised in earnest, for every format.
    assert.ok(stats.accepted > VALIDATOR_CASES / 10, `only ${stats.accepted} accepted`);
    assert.ok(stats.refused > VALIDATOR_CASES / 3, `only ${stats.refused} refused`);
    for (const target of built.targets) {
      for (const kind of ['bit-flip', 'header-byte', 'coefficient>=q', 'truncated', 'other-key', 'other-parameters']) {
        assert.ok((stats.byKind[`${target.name} ${kind}`] ?? 0) > 0, `no ${kind} case for ${target.name}`);
      }
    }
  });
});
