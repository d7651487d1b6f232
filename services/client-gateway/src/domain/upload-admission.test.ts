/**
 * Upload admission against a real Redis (own key prefix, deleted afterwards):
 * an upload reserves its whole size before any chunk is read, one that does
 * not fit waits and is then told to retry, one that can never fit is refused
 * at once, and admitted uploads that end without a commit are counted.
 */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Code, createLogger, refuse, SecaggError } from '@secagg/core';
import { createRedis } from '@secagg/queue';
import { RoundStore, StagingBudget } from '@secagg/store';
import { FoldBacklog } from './fold-backlog.js';
import { StreamSlots } from './stream-slots.js';
import { UploadAdmission, type AdmissionSettings } from './upload-admission.js';

const SETTINGS: AdmissionSettings = {
  maxFoldBacklog: 100,
  admissionWaitMs: 300,
  overloadRetryAfterMs: 1_234,
  stagedTtlMs: 60_000,
  maxStagedBytes: 1_000,
  maxStagedBytesPerClient: 700,
};

describe('upload admission: whole-size staging reservations', () => {
  const prefix = `admission-test-${randomBytes(4).toString('hex')}`;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'admission-test' });
  const budget = new StagingBudget(redis, prefix);
  const admission = new UploadAdmission(
    SETTINGS,
    new StreamSlots({ maxConcurrentStreams: 8, maxWaitingStreams: 8, maxStreamsPerClient: 4, retryAfterMs: SETTINGS.overloadRetryAfterMs }),
    new FoldBacklog(new RoundStore(redis, prefix), 0, Date.now),
    budget,
    Date.now,
    createLogger('admission-test', 'silent'),
  );
  const signal = new AbortController().signal;
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('reserves an update\'s whole size at admission; one that does not fit waits, then RESOURCE_EXHAUSTED with the retry hint', async () => {
    const first = await admission.enter('alice', signal);
    await first.reserve(600);
    assert.equal(await budget.reservedBytes(), 600, 'all 600 bytes, before any chunk');
    const second = await admission.enter('bob', signal);
    await assert.rejects(second.reserve(600), (error: SecaggError) => {
      assert.equal(error.code, Code.ResourceExhausted);
      assert.equal(error.reason, 'staging_budget');
      assert.equal(error.retryAfterMs, 1_234);
      assert.match(error.message, /staged-bytes budget \(1000 bytes\) is full/);
      return true;
    });
    await second.release();
    assert.equal(await budget.reservedBytes(), 600, 'the refused upload holds nothing');
    // Room appears while an upload waits: it is admitted within its wait.
    const third = await admission.enter('carol', signal);
    const waiting = third.reserve(600);
    await first.release();
    await waiting;
    assert.equal(await budget.reservedBytes(), 600);
    await third.release();
    assert.equal(await budget.reservedBytes(), 0);
  });

  // FAILED_PRECONDITION, not the RESOURCE_EXHAUSTED a wait for room would end in: refused without waiting.
  it('refuses at once, not retryable, an update larger than the client\'s share or the budget', async () => {
    for (const bytes of [701, 1_001]) {
      const ticket = await admission.enter('dave', signal);
      await assert.rejects(ticket.reserve(bytes), (error: SecaggError) => {
        assert.equal(error.code, Code.FailedPrecondition);
        assert.equal(error.reason, 'update_too_large');
        assert.match(error.message, new RegExp(`an update of this round is ${bytes} bytes, more than this cluster may stage for one client at once \\(700\\)`));
        return true;
      });
      await ticket.release();
    }
    assert.equal(await budget.reservedBytes(), 0);
  });

  it('counts an admitted upload that ended with an error by its reason, and nothing else', async () => {
    const before = admission.discardedUploads().get('upload_too_slow') ?? 0;
    const committed = await admission.enter('erin', signal);
    await committed.reserve(100);
    await committed.release();
    const refusedAtAdmission = await admission.enter('erin', signal);
    await refusedAtAdmission.release(refuse('staging_budget', 'not admitted'));
    const tooSlow = await admission.enter('erin', signal);
    await tooSlow.reserve(100);
    await tooSlow.release(refuse('upload_too_slow', 'too slow'));
    assert.equal(admission.discardedUploads().get('upload_too_slow'), before + 1);
    assert.equal(admission.discardedUploads().get('staging_budget'), undefined, 'an upload refused before its reservation staged nothing');
  });
});
