/** The staged-bytes budget against a real Redis (own key prefix, deleted afterwards). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { StagingBudget } from './staging-budget.js';

describe('staging budget', () => {
  const prefix = `budget-test-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  const budget = new StagingBudget(redis, prefix, 1_000);
  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('reserves within the limit, refuses beyond it, and gives bytes back once', async () => {
    assert.equal(await budget.tryReserve('a', 600, 0, 10_000), true);
    assert.equal(await budget.tryReserve('b', 600, 0, 10_000), false, 'would exceed 1000 bytes');
    assert.equal(await budget.tryReserve('a', 600, 0, 20_000), true, 'a held reservation is only renewed, not counted twice');
    assert.equal(await budget.reservedBytes(), 600);
    assert.equal(await budget.tryReserve('b', 400, 0, 10_000), true);
    assert.equal(await budget.reservedBytes(), 1_000);
    assert.equal(await budget.release('a', 0), 600);
    assert.equal(await budget.release('a', 0), 0, 'releasing twice gives nothing back twice');
    assert.equal(await budget.reservedBytes(), 400);
    await budget.release('b', 0);
  });

  it('reclaims a reservation whose holder died once it expires', async () => {
    assert.equal(await budget.tryReserve('orphan', 900, 1_000, 5_000), true);
    assert.equal(await budget.tryReserve('next', 500, 4_999, 20_000), false, 'not expired yet');
    assert.equal(await budget.tryReserve('next', 500, 5_000, 20_000), true, 'expired at 5000: pruned, room again');
    assert.equal(await budget.reservedBytes(), 500);
    await budget.release('next', 5_000);
    assert.equal(await budget.reservedBytes(), 0);
  });
});
