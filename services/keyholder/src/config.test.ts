/** The keyholder's privacy settings: defaults, and the test-only fault switch that production cannot reach by accident. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { redactConfig } from '@secagg/core';
import { loadKeyholderConfig } from './config.js';

const base = { KEYHOLDER_DATA_DIR: '/tmp/unused', KEYHOLDER_KEK: 'a'.repeat(44), KEYHOLDER_SIGNING_KEY_FILE: '/run/secrets/keyholder-signing-key' };

describe('keyholder privacy configuration', () => {
  it('defaults: 40-bit flooding minimum, add/remove adjacency, budget 10 at delta 1e-5, no fault injection', () => {
    const config = loadKeyholderConfig(base);
    assert.equal(config.minFloodingMarginBits, 40);
    assert.equal(config.adjacency, 'add-remove');
    assert.equal(config.defaultBudgetEpsilon, 10);
    assert.equal(config.maxBudgetEpsilon, 10);
    assert.equal(config.delta, 1e-5);
    assert.equal(config.testCrashAfterCharge, false);
    assert.equal(config.accountant, 'rdp');
  });

  it('KEYHOLDER_ACCOUNTANT chooses rdp or pld and refuses anything else', () => {
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_ACCOUNTANT: 'pld' }).accountant, 'pld');
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_ACCOUNTANT: 'rdp' }).accountant, 'rdp');
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_ACCOUNTANT: 'prv' }), /KEYHOLDER_ACCOUNTANT/);
  });

  it('refuses the crash-after-charge fault injection unless the keyholder is a test-only one', () => {
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_TEST_CRASH_AFTER_CHARGE: 'true' }), /test-only fault injection and requires/);
    const test = loadKeyholderConfig({ ...base, KEYHOLDER_TEST_CRASH_AFTER_CHARGE: 'true', KEYHOLDER_ALLOW_UNSAFE_NOISE_FREE_RELEASE: 'true' });
    assert.equal(test.testCrashAfterCharge, true);
  });

  it('refuses a default budget above the ceiling, and an unknown adjacency', () => {
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_DEFAULT_BUDGET_EPSILON: '12' }), /exceeds KEYHOLDER_MAX_BUDGET_EPSILON/);
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_ADJACENCY: 'swap' }), /KEYHOLDER_ADJACENCY/);
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_ADJACENCY: 'replace-one' }).adjacency, 'replace-one');
  });

  it('spools releases under the data dir unless KEYHOLDER_SPOOL_DIR says otherwise', () => {
    assert.equal(loadKeyholderConfig(base).spoolDir, undefined);
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_SPOOL_DIR: '/scratch/keyholder-spool' }).spoolDir, '/scratch/keyholder-spool');
    // An empty variable is an unset one (core's loadConfig): the default, never the working directory.
    assert.equal(loadKeyholderConfig({ ...base, KEYHOLDER_SPOOL_DIR: '' }).spoolDir, undefined);
  });

  it('requires a round signing key outside development mode, and redacts an inline one', () => {
    const { KEYHOLDER_SIGNING_KEY_FILE: _file, ...withoutKey } = base;
    assert.throws(() => loadKeyholderConfig(withoutKey), /KEYHOLDER_SIGNING_KEY_FILE or KEYHOLDER_SIGNING_KEY is required/);
    assert.equal(loadKeyholderConfig({ ...withoutKey, KEYHOLDER_ALLOW_INSECURE: 'true' }).signingKeyFile, undefined);
    const inline = loadKeyholderConfig({ ...withoutKey, KEYHOLDER_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----' });
    assert.doesNotMatch(JSON.stringify(redactConfig(inline)), /secret/);
  });

  it('is the single keyholder by default; a committee member states index, size and threshold, all three', () => {
    assert.equal(loadKeyholderConfig(base).committeeIndex, undefined);
    const member = loadKeyholderConfig({ ...base, KEYHOLDER_COMMITTEE_INDEX: '2', KEYHOLDER_COMMITTEE_SIZE: '3', KEYHOLDER_COMMITTEE_THRESHOLD: '3' });
    assert.deepEqual([member.committeeIndex, member.committeeSize, member.committeeThreshold], [2, 3, 3]);
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_COMMITTEE_INDEX: '2', KEYHOLDER_COMMITTEE_SIZE: '3' }), /go together/);
    assert.throws(
      () => loadKeyholderConfig({ ...base, KEYHOLDER_COMMITTEE_INDEX: '4', KEYHOLDER_COMMITTEE_SIZE: '3', KEYHOLDER_COMMITTEE_THRESHOLD: '3' }),
      /must be at most KEYHOLDER_COMMITTEE_SIZE/,
    );
    assert.throws(() => loadKeyholderConfig({ ...base, KEYHOLDER_COMMITTEE_INDEX: '1', KEYHOLDER_COMMITTEE_SIZE: '17', KEYHOLDER_COMMITTEE_THRESHOLD: '2' }), /KEYHOLDER_COMMITTEE_SIZE/);
    // t < n: the keys that authenticate the dealing are required.
    const tOfN = { ...base, KEYHOLDER_COMMITTEE_INDEX: '1', KEYHOLDER_COMMITTEE_SIZE: '3', KEYHOLDER_COMMITTEE_THRESHOLD: '2' };
    assert.throws(() => loadKeyholderConfig(tOfN), /KEYHOLDER_COMMITTEE_VERIFICATION_KEYS_FILE/);
    assert.equal(loadKeyholderConfig({ ...tOfN, KEYHOLDER_COMMITTEE_VERIFICATION_KEYS_FILE: '/run/keys.pem' }).committeeThreshold, 2);
  });
});
