/** Committee rules of threshold keyholders (issue 16) that the cross-service test does not reach one by one. */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { SignedDealingKeySchema } from '@secagg/proto';
import { checkDecryptingSet, dropStaleDealings, type KeyDealing } from './threshold.js';

describe('threshold committee rules', () => {
  it('a decrypting set is empty for n-of-n, and t ascending members including this keyholder for t-of-n', () => {
    assert.deepEqual(checkDecryptingSet([], { index: 2, size: 3, threshold: 3 }), []);
    assert.throws(() => checkDecryptingSet([1, 2, 3], { index: 2, size: 3, threshold: 3 }), /must be empty/);
    const member = { index: 2, size: 3, threshold: 2 };
    assert.deepEqual(checkDecryptingSet([2, 3], member), [2, 3]);
    for (const bad of [[], [1, 3], [3, 2], [2, 2], [2, 4], [1, 2, 3], [0, 2]]) {
      assert.throws(() => checkDecryptingSet(bad, member), /decrypting_keyholders must be 2 distinct ascending indexes of 1..3 including this keyholder/);
    }
  });

  it('unfinished dealings are dropped after the timeout, their shares zeroed', () => {
    const dealing = (createdMs: number): KeyDealing => ({
      privateKey: generateKeyPairSync('x25519').privateKey,
      signed: create(SignedDealingKeySchema, {}),
      ownShare: new Uint8Array([1, 2, 3]),
      createdMs,
    });
    const old = dealing(0);
    const dealings = new Map([
      ['r-old', old],
      ['r-new', dealing(9_000)],
    ]);
    assert.deepEqual(dropStaleDealings(dealings, 10_000, 5_000), ['r-old']);
    assert.deepEqual([...dealings.keys()], ['r-new']);
    assert.deepEqual([...old.ownShare!], [0, 0, 0]);
  });
});
