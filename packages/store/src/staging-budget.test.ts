/** The staged-bytes budget against a real Redis (own key prefix, deleted afterwards). */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { StagingBudget, type Reservation } from './staging-budget.js';

describe('staging budget', () => {
  const prefix = `budget-test-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  const books = new StagingBudget(redis, prefix);
  // The gateway's limits in these tests: 1000 bytes in all, 700 per client.
  const budget = {
    reserve: (stagingId: string, clientId: string, bytes: number, nowMs: number, expiresMs: number): Promise<Reservation> =>
      books.reserve({ stagingId, clientId, bytes, maxBytes: 1_000, maxBytesPerClient: 700, nowMs, expiresMs }),
    release: (stagingId: string, nowMs: number) => books.release(stagingId, nowMs),
    reservedBytes: () => books.reservedBytes(),
    clientBytes: (clientId: string) => books.clientBytes(clientId),
  };
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('reserves within the limit, refuses beyond it, and gives bytes back once', async () => {
    assert.equal(await budget.reserve('a', 'alice', 600, 0, 10_000), 'held');
    assert.equal(await budget.reserve('b', 'bob', 600, 0, 10_000), 'budget_full', 'would exceed 1000 bytes');
    assert.equal(await budget.reserve('a', 'alice', 600, 0, 20_000), 'held', 'a held reservation is only renewed, not counted twice');
    assert.equal(await budget.reservedBytes(), 600);
    assert.equal(await budget.reserve('b', 'bob', 400, 0, 10_000), 'held');
    assert.equal(await budget.reservedBytes(), 1_000);
    assert.equal(await budget.release('a', 0), 600);
    assert.equal(await budget.release('a', 0), 0, 'releasing twice gives nothing back twice');
    assert.equal(await budget.reservedBytes(), 400);
    await budget.release('b', 0);
  });

  it('raises a reservation step by step, and caps what one client holds across its uploads', async () => {
    assert.equal(await budget.reserve('c1', 'carol', 300, 0, 10_000), 'held');
    assert.equal(await budget.reserve('c1', 'carol', 500, 0, 10_000), 'held', 'raised by 200');
    assert.equal(await budget.clientBytes('carol'), 500);
    assert.equal(await budget.reserve('c2', 'carol', 300, 0, 10_000), 'client_limit', "carol's 700 would be exceeded");
    assert.equal(await budget.reserve('c1', 'carol', 800, 0, 10_000), 'client_limit', 'one upload is capped too');
    assert.equal(await budget.reserve('d1', 'dave', 500, 0, 10_000), 'held', 'another client is not');
    assert.equal(await budget.reservedBytes(), 1_000);
    assert.equal(await budget.reserve('c2', 'carol', 100, 0, 10_000), 'budget_full', 'within carol\'s share, but the budget is full');
    assert.equal(await budget.release('c1', 0), 500);
    assert.equal(await budget.clientBytes('carol'), 0);
    assert.equal(await budget.reserve('c2', 'carol', 300, 0, 10_000), 'held');
    await budget.release('c2', 0);
    await budget.release('d1', 0);
    assert.equal(await budget.reservedBytes(), 0);
  });

  it('reclaims a reservation whose holder died once it expires', async () => {
    assert.equal(await budget.reserve('orphan', 'olga', 600, 1_000, 5_000), 'held');
    assert.equal(await budget.reserve('orphan2', 'oscar', 300, 1_000, 5_000), 'held');
    assert.equal(await budget.reserve('next', 'nina', 500, 4_999, 20_000), 'budget_full', 'not expired yet');
    assert.equal(await budget.reserve('next', 'nina', 500, 5_000, 20_000), 'held', 'expired at 5000: pruned, room again');
    assert.equal(await budget.reservedBytes(), 500);
    assert.equal(await budget.clientBytes('olga'), 0, "the expired reservation left olga's share too");
    await budget.release('next', 5_000);
    assert.equal(await budget.reservedBytes(), 0);
  });
});
