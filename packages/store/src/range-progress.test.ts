/** Range leases and checkpoints against a real Redis (REDIS_URL or the local one), under a random key prefix. */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RangeProgress, rangesOf } from './range-progress.js';
import { RoundKeys } from './keys.js';

describe('range progress (real Redis)', () => {
  let redis: Redis;
  let progress: RangeProgress;
  const prefix = `secagg-test-${randomBytes(4).toString('hex')}`;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false, maxRetriesPerRequest: 1 });
    progress = new RangeProgress(redis, prefix);
  });
  afterAll(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  });

  it('splits a round into ranges that cover every index once', () => {
    assert.deepEqual(rangesOf(10, 4), [
      { index: 0, first: 0, count: 4 },
      { index: 1, first: 4, count: 4 },
      { index: 2, first: 8, count: 2 },
    ]);
    assert.deepEqual(rangesOf(3, 64), [{ index: 0, first: 0, count: 3 }]);
    assert.throws(() => rangesOf(0, 4), RangeError);
  });

  it('fixes the range size the first time, for every aggregator', async () => {
    assert.equal(await progress.ciphertextsPerRange('r-size', 64), 64);
    assert.equal(await progress.ciphertextsPerRange('r-size', 8), 64, 'a later, different proposal gets the fixed size');
  });

  it('one owner at a time; checkpoints only move forward and only under the live fence', async () => {
    const a = await progress.acquire('r-lease', 0, 'agg-a', 60_000);
    assert.ok(a);
    assert.deepEqual([a.folded, a.checkpoint], [0, '']);
    assert.equal(await progress.acquire('r-lease', 0, 'agg-b', 60_000), undefined, 'a live lease keeps others out');

    assert.deepEqual(await progress.checkpoint('r-lease', a, 'agg-a', 3, 'ckpt-0-3'), { kind: 'OK', previous: '' });
    assert.deepEqual(await progress.checkpoint('r-lease', a, 'agg-a', 3, 'ckpt-0-3'), { kind: 'STALE', folded: 3 });
    assert.deepEqual(await progress.checkpoint('r-lease', a, 'agg-a', 5, 'ckpt-0-5'), { kind: 'OK', previous: 'ckpt-0-3' });
    const leaseBefore = a.leaseUntilMs;
    assert.ok(await progress.renew('r-lease', a, 'agg-a', 120_000));
    assert.ok(a.leaseUntilMs >= leaseBefore + 59_000, 'renewing moved the lease end');
    assert.equal(Number(await redis.hget(new RoundKeys(prefix, 'r-lease').range(0), 'leaseUntil')), a.leaseUntilMs);

    // The owner restarts (same id): a new fence, and the old incarnation's writes are refused.
    const again = await progress.acquire('r-lease', 0, 'agg-a', 60_000);
    assert.ok(again && again.fence !== a.fence);
    assert.deepEqual([again.folded, again.checkpoint], [5, 'ckpt-0-5']);
    assert.deepEqual(await progress.checkpoint('r-lease', a, 'agg-a', 9, 'ckpt-0-9'), { kind: 'LOST' });
    assert.equal(await progress.renew('r-lease', a, 'agg-a', 60_000), false);

    assert.deepEqual(await progress.checkpoints('r-lease', 2), [
      { folded: 5, checkpoint: 'ckpt-0-5' },
      { folded: 0, checkpoint: '' },
    ]);
  });

  it('an expired lease is taken over (Redis clock), and the late owner can no longer write', async () => {
    const a = await progress.acquire('r-expire', 1, 'agg-a', 50);
    assert.ok(a);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const b = await progress.acquire('r-expire', 1, 'agg-b', 60_000);
    assert.ok(b, 'taken over after expiry');
    assert.deepEqual(await progress.checkpoint('r-expire', a, 'agg-a', 1, 'x'), { kind: 'LOST' });
    assert.equal(await progress.release('r-expire', a, 'agg-a'), false);
    assert.equal(await progress.release('r-expire', b, 'agg-b'), true);
    assert.ok(await progress.acquire('r-expire', 1, 'agg-c', 60_000), 'free after release');
  });

  it('reads the commit log in order', async () => {
    const log = new RoundKeys(prefix, 'r-log').commitLog;
    await redis.rpush(log, 'u-1', 'u-2', 'u-3');
    assert.equal(await progress.logLength('r-log'), 3);
    assert.deepEqual(await progress.logEntries('r-log', 1, 3), ['u-2', 'u-3']);
    assert.deepEqual(await progress.logEntries('r-log', 2, 2), []);
  });
});
