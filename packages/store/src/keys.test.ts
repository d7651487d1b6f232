/**
 * The key layout is Redis Cluster safe: every key of a round hashes by the
 * round's tag, whatever the client id or staging id, and the round index by
 * none. (The real-cluster round is test/src/redis-cluster.int.test.ts.)
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { hashTagOf, roundIndexKey, RoundKeys } from './keys.js';

describe('hashTagOf follows the Redis Cluster key hash tag rules', () => {
  it('matches the examples of the Redis Cluster specification', () => {
    assert.equal(hashTagOf('{user1000}.following'), 'user1000');
    assert.equal(hashTagOf('foo{}{bar}'), 'foo{}{bar}'); // empty first tag: the whole key
    assert.equal(hashTagOf('foo{{bar}}zap'), '{bar');
    assert.equal(hashTagOf('foo{bar}{zap}'), 'bar');
    assert.equal(hashTagOf('no-tag'), 'no-tag');
    assert.equal(hashTagOf('open{only'), 'open{only');
  });
});

describe('RoundKeys', () => {
  const keys = new RoundKeys('secagg-test', 'r-AbC_12-x');
  const hostile = ['{evil}', '}{', 'a{b}c', 'client-7', ''];

  it('puts every key of a round in the round hash slot, whatever client id or range', () => {
    const all = [
      keys.meta,
      keys.publicKey,
      keys.clients,
      keys.commitLog,
      keys.resultHeader,
      keys.resultObject,
      ...hostile.map((id) => keys.update(id)),
      ...[0, 1, 63].map((i) => keys.range(i)),
    ];
    for (const key of all) {
      assert.ok(key.startsWith('secagg-test:'), key);
      assert.equal(hashTagOf(key), 'r-AbC_12-x', key);
    }
  });

  it('keeps the round index out of every round slot', () => {
    assert.equal(hashTagOf(roundIndexKey('secagg-test')), 'secagg-test:rounds');
  });

  it('refuses a prefix or round id that would move the hash tag', () => {
    assert.throws(() => new RoundKeys('{secagg}', 'r-1'));
    assert.throws(() => new RoundKeys('secagg', 'r-{1}'));
    assert.throws(() => new RoundKeys('secagg', ''));
  });
});
