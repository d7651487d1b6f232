/**
 * RoundStore's scripts against a real Redis (REDIS_URL or the local one),
 * under a random key prefix deleted afterwards: one test per script, through
 * its typed method, asserting its effect and each of its refusals.
 */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { CkksParametersSchema, RoundConfigSchema } from '@secagg/proto';
import { groupOwnersKey } from './keys.js';
import { RoundStore } from './round-store.js';

describe('RoundStore scripts (real Redis)', () => {
  const prefix = `store-test-${randomBytes(4).toString('hex')}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const store = new RoundStore(redis, prefix);
  afterAll(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    redis.disconnect();
  });

  /** A new OPEN round of `maxClients`, its deadline `deadlineInMs` from now (negative: already past). */
  async function openRound(roundId: string, maxClients = 2, deadlineInMs = 60_000): Promise<void> {
    const created = await store.createRound({
      roundId,
      owner: 'coordinator',
      config: create(RoundConfigSchema, { maxClients, minClients: 1, vectorLength: 4, deadlineUnixMs: BigInt(Date.now() + deadlineInMs) }),
      ckks: create(CkksParametersSchema, { ciphertextCount: 1 }),
      publicKey: new Uint8Array([1, 2, 3]),
      attestation: undefined,
      createdMs: Date.now(),
    });
    assert.ok(created);
  }
  const upload = (roundId: string, clientId: string, updateId: string) => ({
    roundId,
    clientId,
    updateId,
    objectName: `${updateId}.ct`,
    sha256: 'ab'.repeat(32),
    count: 1,
  });

  it('commitUpdate: commits once per client, appends to the log, closes at max clients, refuses the rest', async () => {
    await openRound('r-commit', 2);
    const first = await store.commitUpdate(upload('r-commit', 'alice', 'u-a'));
    assert.equal(first.kind, 'committed');
    assert.equal(first.kind === 'committed' && first.closedNow, false);

    const retry = await store.commitUpdate(upload('r-commit', 'alice', 'u-a'));
    assert.equal(retry.kind, 'exists', 'the same update again is an idempotent retry');
    assert.equal(retry.kind === 'exists' && retry.update.sha256, 'ab'.repeat(32));
    assert.deepEqual(await store.commitUpdate(upload('r-commit', 'alice', 'u-other')), { kind: 'client-has-update', otherUpdateId: 'u-a' });

    const last = await store.commitUpdate(upload('r-commit', 'bob', 'u-b'));
    assert.equal(last.kind === 'committed' && last.closedNow, true, 'the second of max_clients 2 closes the round');
    assert.deepEqual(await store.commitUpdate(upload('r-commit', 'carol', 'u-c')), { kind: 'not-open', state: 'CLOSED' });
    assert.deepEqual(await store.commitUpdate(upload('r-none', 'carol', 'u-c')), { kind: 'not-found' });

    const round = await store.getRound('r-commit');
    assert.equal(round?.committed, 2);
    assert.deepEqual(await redis.lrange(store.keys('r-commit').commitLog, 0, -1), ['u-a.ct', 'u-b.ct'], 'each commit once, in order');
    assert.deepEqual(Object.fromEntries(await store.committedUpdates('r-commit')), { alice: 'u-a', bob: 'u-b' });
  });

  it("commitUpdate: past the deadline (Redis's clock) nothing commits and the round closes", async () => {
    await openRound('r-late', 2, -1_000);
    const outcome = await store.commitUpdate(upload('r-late', 'alice', 'u-a'));
    assert.equal(outcome.kind, 'past-deadline');
    const round = await store.getRound('r-late');
    assert.equal(round?.state, 'CLOSED');
    assert.equal(round?.committed, 0);
    assert.equal(await redis.llen(store.keys('r-late').commitLog), 0);
    assert.equal(await store.committedUpdateOf('r-late', 'alice'), undefined);
  });

  it('raiseFolded: the counter only goes up', async () => {
    await openRound('r-folded');
    assert.equal(await store.raiseFolded('r-folded', 3), 3);
    assert.equal(await store.raiseFolded('r-folded', 2), 3, 'a late, lower writer does not lower it');
    assert.equal(await store.raiseFolded('r-folded', 5), 5);
    assert.equal((await store.getRound('r-folded'))?.folded, 5);
  });

  it("closeRound: on request at once; at the deadline only once Redis's clock has passed it; idempotent", async () => {
    await openRound('r-close-early', 2, 60_000);
    const early = await store.closeAtDeadline('r-close-early');
    assert.equal(early.state, 'OPEN', 'a deadline close before the deadline changes nothing');
    assert.ok(early.remainingMs > 50_000 && early.remainingMs <= 60_000, `${early.remainingMs} ms left`);
    assert.equal(await store.closeRound('r-close-early'), 'CLOSED');
    assert.equal(await store.closeRound('r-close-early'), 'CLOSED', 'idempotent');

    await openRound('r-close-late', 2, -1);
    assert.deepEqual(await store.closeAtDeadline('r-close-late'), { state: 'CLOSED', remainingMs: 0 });
    assert.ok((await store.getRound('r-close-late'))!.closedMs > 0);

    assert.equal(await store.closeRound('r-close-none'), undefined);
    assert.deepEqual(await store.closeAtDeadline('r-close-none'), { state: undefined, remainingMs: 0 });
  });

  it('finishRound: RELEASED only from CLOSED, recording the result object; the first record stands; FAILED from OPEN or CLOSED; a finished round unchanged', async () => {
    const object = { name: 'result-aa', sha256: 'ab'.repeat(32), bytes: 32 };
    await openRound('r-release');
    assert.deepEqual(await store.recordRelease('r-release', new Uint8Array([9]), object, Date.now()), { state: 'OPEN', objectName: '' }, 'an OPEN round is not released');
    assert.equal(await store.readResult('r-release'), undefined);
    await store.closeRound('r-release');
    assert.deepEqual(await store.recordRelease('r-release', new Uint8Array([9]), object, Date.now()), { state: 'RELEASED', objectName: 'result-aa' });
    assert.deepEqual(await store.readResult('r-release'), { header: Buffer.from([9]), object });
    const other = { name: 'result-bb', sha256: 'cd'.repeat(32), bytes: 32 };
    assert.deepEqual(
      await store.recordRelease('r-release', new Uint8Array([7]), other, Date.now()),
      { state: 'RELEASED', objectName: 'result-aa' },
      'a second attempt learns the recorded object (its own is an orphan)',
    );
    assert.deepEqual(await store.readResult('r-release'), { header: Buffer.from([9]), object }, 'the first record stands');
    assert.equal(await store.failRound('r-release', 'too late', Date.now()), 'RELEASED', 'a released round stays released');
    assert.deepEqual(await store.recordRelease('r-release-none', new Uint8Array([9]), object, Date.now()), { state: undefined, objectName: '' });

    // A round released by a version that kept the sum in Redis: its header, no object record, the runs in result:sum.
    const legacy = store.keys('r-legacy');
    await redis.set(legacy.resultHeader, Buffer.from([5]));
    await redis.rpush(legacy.legacyResultSum, Buffer.alloc(16, 1), Buffer.alloc(8, 2));
    assert.deepEqual(await store.readResult('r-legacy'), { header: Buffer.from([5]), object: undefined });
    const runs: Buffer[] = [];
    for await (const run of store.legacyResultRuns('r-legacy')) runs.push(run);
    assert.deepEqual(runs, [Buffer.alloc(16, 1), Buffer.alloc(8, 2)]);
    for await (const _ of store.legacyResultRuns('r-release')) assert.fail('a round released now has no legacy runs');

    await openRound('r-fail');
    assert.equal(await store.failRound('r-fail', 'keyholder refused', 1234), 'FAILED');
    const failed = await store.getRound('r-fail');
    assert.deepEqual([failed?.state, failed?.reason, failed?.closedMs], ['FAILED', 'keyholder refused', 1234], 'failing an OPEN round closes it too');
    assert.equal(await store.failRound('r-fail', 'another reason', 5678), 'FAILED');
    assert.equal((await store.getRound('r-fail'))?.reason, 'keyholder refused', 'the first reason stands');

    assert.equal(await store.failRound('r-finish-none', 'x', 1), undefined);
    assert.equal(await store.readResult('r-fail'), undefined, 'a failed round has no result');
  });

  it("releaseGroupClaim: undoes the subject's own claim, never another's", async () => {
    assert.deepEqual(await store.claimPrivacyGroup('g-1', 'alice'), { owner: 'alice', claimedNow: true });
    assert.deepEqual(await store.claimPrivacyGroup('g-1', 'bob'), { owner: 'alice', claimedNow: false });
    await store.releasePrivacyGroupClaim('g-1', 'bob');
    assert.equal(await store.privacyGroupOwner('g-1'), 'alice', "bob cannot remove alice's claim");
    await store.releasePrivacyGroupClaim('g-1', 'alice');
    assert.equal(await store.privacyGroupOwner('g-1'), undefined);
    assert.equal(await redis.exists(groupOwnersKey(prefix)), 0);
  });

  it('decideSampling: the first draw per (round, client) stands, and the decisions expire when asked', async () => {
    const retainUntilMs = Date.now() + 3_600_000;
    assert.equal(await store.decideSampling('r-sample', 'alice', false, retainUntilMs), false);
    assert.equal(await store.decideSampling('r-sample', 'alice', true, retainUntilMs), false, 'a later draw does not change it');
    assert.equal(await store.decideSampling('r-sample', 'bob', true, retainUntilMs), true);
    assert.equal(await store.decideSampling('r-sample', 'bob', false, retainUntilMs), true);
    assert.equal(await store.decideSampling('r-sample-2', 'alice', true, retainUntilMs), true, 'another round draws anew');
    const expiresAt = await redis.pexpiretime(store.keys('r-sample').sampled);
    assert.equal(expiresAt, retainUntilMs);
  });
});
