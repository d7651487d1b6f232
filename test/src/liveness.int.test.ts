/**
 * Every round finishes (issue 12 items 3, 4, 5): real clusters (keyholder,
 * gateway, aggregator processes, a private redis-server), real BullMQ, real
 * node-seal; the faults are the ones the issue reproduced.
 *
 *  - a finalize job that failed for good (what 1,000 attempts used to end in
 *    during a long keyholder outage) does not block the round: an explicit
 *    CloseRound and the sweeper queue a fresh one, and the round releases;
 *  - the gateway killed on the commit that reaches max_clients (before it
 *    queues anything): the sweeper finalizes the round within its interval;
 *  - the deadline is Redis's clock: an aggregator 10 minutes ahead does not
 *    close the round early (nor park a finalize retry for 10 minutes), and a
 *    commit after the deadline is refused even while every aggregator is down.
 *
 * On the old code each `it` fails: the failed job's fixed id made every later
 * enqueue a no-op and there was no sweeper (1, 2: the round stays CLOSED until
 * the test's wait ends); the close job fired by the aggregator's clock closed
 * the round at once, refusing the client (3); the retry stayed parked for
 * 10 minutes (4); the commit script did not look at the deadline, so the late
 * client got a receipt (5).
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Code, createLogger, isSecaggError } from '@secagg/core';
import { RoundState } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { LIFECYCLE_QUEUE, RoundQueues, UnrecoverableError, createWorker, queuePrefix, type LifecycleJob } from '@secagg/queue';
import { RoundStore } from '@secagg/store';
import { closeRound, HARNESS_COORDINATOR, roundResult, roundStatus, waitForRoundEnd } from '@secagg/chaos';
import { asClient, makeUpdate } from './helpers.js';

const LENGTH = 3_000;
/** Sweeps run this often in these tests, ms (default 10 s). */
const SWEEP_MS = 1_000;
/** A fold whose aggregator was SIGKILLed is handed on within seconds, not the default minute. */
const FAST_STALL_RECOVERY = { AGGREGATOR_LOCK_DURATION_MS: '5000', AGGREGATOR_STALLED_CHECK_INTERVAL_MS: '2500' };

async function newRound(cluster: LocalCluster, config: { minClients: number; maxClients: number; deadlineUnixMs: bigint }): Promise<string> {
  const coordinator = await cluster.client('coordinator', HARNESS_COORDINATOR); // the harness's closeRound acts as the owner
  try {
    const round = await coordinator.createRound({ vectorLength: LENGTH, clipNorm: 1, noiseMultiplier: 0, unsafeDisableNoise: true, ...config });
    return round.roundId;
  } finally {
    coordinator.close();
  }
}

/** Submits one update with an SDK client that tries at most `maxAttempts` times. */
function submit(cluster: LocalCluster, roundId: string, subject: string, maxAttempts = 8) {
  const update = makeUpdate(LENGTH, subject.length, 0.5);
  return asClient(cluster, subject, (client) => client.submitUpdate(roundId, update, { updateId: `${subject}-1` }), { maxAttempts, initialBackoffMs: 100 });
}

/** Polls the round record in Redis (no gateway needed) until it is RELEASED or FAILED. */
async function waitInRedis(store: RoundStore, roundId: string, timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const round = await store.getRound(roundId);
    if (round && (round.state === 'RELEASED' || round.state === 'FAILED')) return round;
    if (Date.now() > until) throw new Error(`round ${roundId} still ${round?.state} after ${timeoutMs} ms`);
    await sleep(200);
  }
}

describe('every round finishes', () => {
  describe('jobs that failed for good, and a gateway killed on the closing commit', () => {
    let cluster: LocalCluster;
    let redis: Redis;
    let store: RoundStore;

    beforeAll(async () => {
      cluster = await LocalCluster.start({
        privateRedis: {},
        aggregators: 1,
        allowUnsafeNoiseFreeRelease: true,
        env: {
          aggregator: { AGGREGATOR_SWEEP_INTERVAL_MS: String(SWEEP_MS), AGGREGATOR_JOB_RETRY_MAX_DELAY_MS: '2000', ...FAST_STALL_RECOVERY },
          'client-gateway': { GATEWAY_TEST_KILL_AFTER_CLOSING_COMMIT: 'true' },
        },
      });
      redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: null });
      store = new RoundStore(redis, cluster.keyPrefix);
    });
    afterAll(async () => {
      redis?.disconnect();
      await cluster?.stop();
    });

    it('a finalize job that failed for good does not keep the round CLOSED: CloseRound and the sweeper queue a fresh one', async () => {
      const roundId = await newRound(cluster, { minClients: 1, maxClients: 3, deadlineUnixMs: BigInt(Date.now() + 3_600_000) });
      await submit(cluster, roundId, 'failed-job-alice');
      await cluster.kill('aggregator-1', 'SIGKILL');

      // Stand-in for a finalize job that ran out of attempts (the old 1,000 × 1 s during a long
      // keyholder outage): a worker that fails every lifecycle job for good, kept 7 days by BullMQ.
      const connection = new Redis(cluster.redisUrl, { maxRetriesPerRequest: null });
      const prefix = queuePrefix(cluster.keyPrefix);
      const queues = new RoundQueues(connection, prefix);
      const lifecycle = queues.lifecycle;
      const failing = createWorker<LifecycleJob>(
        LIFECYCLE_QUEUE,
        async () => {
          throw new UnrecoverableError('simulated: attempts exhausted');
        },
        connection,
        { prefix, concurrency: 1, logger: createLogger('test', 'error') },
      );
      try {
        await closeRound(cluster, roundId);
        const until = Date.now() + 30_000;
        while (!(await lifecycle.getFailed()).some((job) => job.data.roundId === roundId && job.data.kind === 'finalize-round')) {
          assert.ok(Date.now() < until, 'the finalize job did not fail');
          await sleep(100);
        }
      } finally {
        await failing.close();
        await queues.close();
        connection.disconnect();
      }
      assert.equal((await store.getRound(roundId))?.state, 'CLOSED');

      await cluster.restart('aggregator-1');
      await closeRound(cluster, roundId); // as the operator did in the issue
      const ended = await waitForRoundEnd(cluster, roundId, 90_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      assert.equal((await roundResult(cluster, roundId)).header.contributionCount, 1);
    });

    it('the gateway killed on the commit that reaches max_clients: the sweeper finalizes the round', async () => {
      const roundId = await newRound(cluster, { minClients: 2, maxClients: 2, deadlineUnixMs: BigInt(Date.now() + 3_600_000) });
      await submit(cluster, roundId, 'closing-commit-alice');
      await assert.rejects(submit(cluster, roundId, 'closing-commit-bob', 1), 'the gateway dies before it answers');
      const until = Date.now() + 10_000;
      while (cluster.isRunning('client-gateway') && Date.now() < until) await sleep(50);
      assert.equal(cluster.isRunning('client-gateway'), false, 'the test knob killed the gateway after the closing commit');
      const closed = await store.getRound(roundId);
      assert.equal(closed?.state, 'CLOSED');
      assert.equal(closed?.committed, 2, "bob's update is committed, though he got no receipt");

      // Nothing but the sweeper can queue the finalize now: no gateway, a deadline an hour away.
      const ended = await waitInRedis(store, roundId, 90_000);
      assert.equal(ended.state, 'RELEASED', ended.reason);
      assert.equal(ended.folded, 2);
    });
  });

  describe('the deadline is decided by Redis', () => {
    let cluster: LocalCluster;

    beforeAll(async () => {
      cluster = await LocalCluster.start({
        privateRedis: {},
        aggregators: 1,
        allowUnsafeNoiseFreeRelease: true,
        env: {
          aggregator: {
            // The aggregator's clock runs 10 minutes ahead: BullMQ, on its clock, finds the close job due at once.
            AGGREGATOR_TEST_CLOCK_OFFSET_MS: String(10 * 60_000),
            AGGREGATOR_SWEEP_INTERVAL_MS: String(SWEEP_MS),
            ...FAST_STALL_RECOVERY,
          },
        },
      });
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('an aggregator 10 minutes ahead does not close the round early; the round closes at its deadline and releases', async () => {
      const deadlineMs = Date.now() + 12_000;
      const roundId = await newRound(cluster, { minClients: 1, maxClients: 5, deadlineUnixMs: BigInt(deadlineMs) });
      await sleep(3_000); // the close job has long been due by the aggregator's clock
      assert.equal((await roundStatus(cluster, roundId)).state, RoundState.OPEN, 'still open before its deadline');
      const result = await submit(cluster, roundId, 'skew-alice', 1);
      assert.ok(Number(result.receipt.committedUnixMs) < deadlineMs);

      const ended = await waitForRoundEnd(cluster, roundId, 90_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      assert.ok(Number(ended.closedUnixMs) >= deadlineMs, `closed at ${ended.closedUnixMs}, deadline ${deadlineMs}`);
    });

    it('a finalize retry parked 10 minutes out by an aggregator whose clock ran ahead runs within a sweep on another', async () => {
      const roundId = await newRound(cluster, { minClients: 1, maxClients: 1, deadlineUnixMs: BigInt(Date.now() + 3_600_000) });
      await cluster.kill('keyholder', 'SIGKILL');
      try {
        await submit(cluster, roundId, 'parked-alice', 1); // closes the round: the finalize fails while the keyholder is down
        const until = Date.now() + 30_000;
        while (!cluster.logLines('aggregator-1').some((line) => line.includes(roundId) && line.includes('release not obtained yet'))) {
          assert.ok(Date.now() < until, 'the finalize never tried the keyholder');
          await sleep(50);
        }
        // Its retry is due 10 minutes out by the clock that delayed it. The aggregator that must run it
        // now has a correct clock (the skewed one replaced, as when its clock is fixed or another takes over).
        await cluster.restart('aggregator-1', { AGGREGATOR_TEST_CLOCK_OFFSET_MS: '0' });
      } finally {
        await cluster.restart('keyholder');
      }
      const ended = await waitForRoundEnd(cluster, roundId, 90_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    });

    it('with the aggregators down past the deadline, a commit after it gets no receipt; the round releases when they return', async () => {
      const deadlineMs = Date.now() + 6_000;
      const roundId = await newRound(cluster, { minClients: 1, maxClients: 5, deadlineUnixMs: BigInt(deadlineMs) });
      await submit(cluster, roundId, 'late-alice', 1);
      await cluster.kill('aggregator-1', 'SIGKILL');
      await sleep(Math.max(0, deadlineMs - Date.now()) + 1_000);

      await assert.rejects(submit(cluster, roundId, 'late-bob', 1), (error: unknown) => {
        assert.ok(isSecaggError(error, Code.FailedPrecondition), String(error));
        assert.match(error.message, /past its deadline/);
        return true;
      });
      const status = await roundStatus(cluster, roundId);
      assert.equal(status.state, RoundState.CLOSED, 'the refused commit closed the round');
      assert.equal(status.committedCount, 1);

      await cluster.restart('aggregator-1');
      const ended = await waitForRoundEnd(cluster, roundId, 90_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      assert.equal((await roundResult(cluster, roundId)).header.contributionCount, 1);
    });
  });
});
