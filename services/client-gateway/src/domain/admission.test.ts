/** Poisson admission against a real Redis (own key prefix, cleaned up): one decision per (round, client), remembered. */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { CkksParametersSchema, RoundConfigSchema } from '@secagg/proto';
import { createRedis } from '@secagg/queue';
import { RoundStore, type RoundRecord } from '@secagg/store';
import { admitSampledClient, cryptoUniform } from './admission.js';

function round(roundId: string, samplingRate: number): RoundRecord {
  return {
    roundId,
    config: create(RoundConfigSchema, { samplingRate, deadlineUnixMs: BigInt(Date.now() + 60_000) }),
    ckks: create(CkksParametersSchema, {}),
    state: 'OPEN',
    committed: 0,
    folded: 0,
    createdMs: Date.now(),
    closedMs: 0,
    reason: '',
    owner: 'admission-test',
  };
}

describe('Poisson admission', () => {
  const prefix = `admission-test-${randomBytes(4).toString('hex')}`;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'admission-test' });
  const store = new RoundStore(redis, prefix);

  beforeAll(async () => {
    await redis.ping();
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('admits everyone at rate 1 without touching Redis', async () => {
    await admitSampledClient(store, round('all', 0), 'c1', () => 0.999_999);
    await admitSampledClient(store, round('all', 1), 'c1', () => 0.999_999);
    assert.deepEqual(await redis.keys(`${prefix}:*`), []);
  });

  it('decides once per (round, client): a later draw never changes the answer', async () => {
    const r = round('sampled', 0.3);
    await assert.rejects(admitSampledClient(store, r, 'out', () => 0.5), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.equal(e.reason, 'not_sampled');
      assert.match(e.message, /client out was not sampled for round sampled \(Poisson sampling at rate 0\.3\)/);
      return true;
    });
    await assert.rejects(admitSampledClient(store, r, 'out', () => 0.01), /not sampled/); // would have been admitted if drawn again
    await admitSampledClient(store, r, 'in', () => 0.1);
    await admitSampledClient(store, r, 'in', () => 0.9); // would have been refused if drawn again
    // The same client in another round gets its own draw.
    await admitSampledClient(store, round('other', 0.3), 'out', () => 0.1);
    const ttl = await redis.pttl(store.keys('sampled').sampled);
    assert.ok(ttl > 0, 'decisions expire after the round');
  });

  it('draws uniformly from the CSPRNG', () => {
    const n = 20_000;
    let below = 0;
    for (let i = 0; i < n; i++) {
      const u = cryptoUniform();
      assert.ok(u >= 0 && u < 1);
      if (u < 0.25) below++;
    }
    // Binomial(20000, 0.25): sd ≈ 61; 6 sd is a 1e-9 false alarm.
    assert.ok(Math.abs(below - n / 4) < 6 * Math.sqrt(n * 0.25 * 0.75), `${below} of ${n} below 0.25`);
  });
});
