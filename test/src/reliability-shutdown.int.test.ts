/**
 * Graceful shutdown and the round lifecycle under faults.
 *
 * SIGTERM drains: the gateway refuses new uploads (UNAVAILABLE) but finishes
 * the one in flight; an aggregator stops taking jobs but finishes the fold it
 * runs, or — past its grace period — hands the job back to the queue so the
 * next worker takes it at once (not after stalled-job recovery). A deadline
 * that passes while Redis and the aggregators are down is honoured when they
 * return.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { Code, createClient, isSecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, RoundState, SubmitUpdateRequestSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { RoundKeys } from '@secagg/store';
import { SecaggClient, clipToNorm } from '@secagg/sdk';
import { closeRound, HARNESS_COORDINATOR, roundResult, roundStatus, waitForRoundEnd } from '@secagg/chaos';
import { asClient, clippedSum, inMinutes, makeUpdate, maxAbsDiff } from './helpers.js';

async function newRound(cluster: LocalCluster, length: number, minClients: number, maxClients: number, deadlineUnixMs = inMinutes(30)) {
  // The harness' coordinator: closeRound() below closes as it, and only a round's owner may.
  const coordinator = await cluster.client('coordinator', HARNESS_COORDINATOR);
  try {
    return (
      await coordinator.createRound({
        vectorLength: length,
        minClients,
        maxClients,
        deadlineUnixMs,
        clipNorm: 1,
        noiseMultiplier: 0,
        unsafeDisableNoise: true,
      })
    ).roundId;
  } finally {
    coordinator.close();
  }
}

function submit(cluster: LocalCluster, roundId: string, subject: string, values: Float64Array) {
  return asClient(cluster, subject, (client) => client.submitUpdate(roundId, values, { updateId: `${subject}-1` }));
}

/** Resolves once the named process has exited on its own (after a SIGTERM sent without waiting). */
async function waitForExit(cluster: LocalCluster, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (cluster.isRunning(name)) {
    if (Date.now() > deadline) throw new Error(`${name} still running ${timeoutMs} ms after SIGTERM`);
    await sleep(50);
  }
}

const stoppedCleanly = (cluster: LocalCluster, name: string) => cluster.logLines(name).some((line) => line.includes('"msg":"stopped"'));

/** Fold jobs BullMQ holds in `state` (its key layout: <prefix>:fold-update:<state>). */
/** The owner of a round's fold range 0 ('' when nobody holds it). */
async function rangeOwner(redis: Redis, cluster: LocalCluster, roundId: string): Promise<string> {
  return (await redis.hget(new RoundKeys(cluster.keyPrefix, roundId).range(0), 'owner')) ?? '';
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('SIGTERM drains the gateway and the aggregators', () => {
  let cluster: LocalCluster;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      privateRedis: { configFile: SHIPPED_REDIS_CONF },
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
      env: { aggregator: { AGGREGATOR_TEST_FOLD_DELAY_MS: '2500' } },
    });
    redis = new Redis(cluster.redisUrl);
    redis.on('error', () => {}); // Redis is killed on purpose below
  }, 300_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  }, 300_000);

  it('the gateway refuses new uploads but finishes the one in flight, then exits cleanly', async () => {
    const length = 4 * 4_096;
    const roundId = await newRound(cluster, length, 1, 3);
    const values = makeUpdate(length, 5, 0.8);
    const reader = await cluster.client('client', 'drain-a');
    const { round, publicKey } = await reader.getRound(roundId);
    reader.close();
    const params = toCkksParams(round!.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);
    const chunks = [...encryptVector(encryptor, params, clipToNorm(values, 1).values)];
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256');
    for (const c of chunks) digest.update(c);
    let resume!: () => void;
    const halfway = new Promise<void>((r) => (resume = r));
    let sentHalf!: () => void;
    const half = new Promise<void>((r) => (sentHalf = r));
    async function* frames(): AsyncGenerator<SubmitUpdateRequest> {
      yield create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId, updateId: 'drain-a-1', vectorLength: length, ciphertextCount: chunks.length } } });
      for (let index = 0; index < chunks.length; index++) {
        if (index === chunks.length / 2) {
          sentHalf();
          await halfway;
        }
        yield create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext: chunks[index]! } } });
      }
      yield create(SubmitUpdateRequestSchema, { frame: { case: 'trailer', value: { sha256: digest.digest() } } });
    }
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', 'drain-a')}`);
    const upload = raw.submitUpdate(frames(), { metadata });
    await half;
    await sleep(300); // the first half is staged

    process.kill(cluster.pidOf('client-gateway')!, 'SIGTERM');
    await sleep(300);
    // A new upload is refused with a retryable status (the SDK would retry it elsewhere or later).
    const late = new SecaggClient({
      address: cluster.gatewayAddress,
      token: await cluster.token('client', 'drain-late'),
      caFile: cluster.certificates?.caFile,
      maxAttempts: 1,
      encryptionThreads: 0,
      keyholderKeys: [cluster.keyholderVerificationKeyPem],
    });
    await assert.rejects(late.submitUpdate(roundId, makeUpdate(length, 6, 0.8)), (e: unknown) => isSecaggError(e, Code.Unavailable));
    late.close();
    assert.ok(cluster.isRunning('client-gateway'), 'the gateway waits for the upload in flight');

    resume();
    const response = await upload;
    raw.close();
    assert.equal(response.receipt?.updateId, 'drain-a-1', 'the upload in flight completed with a receipt');
    await waitForExit(cluster, 'client-gateway', 15_000);
    assert.ok(stoppedCleanly(cluster, 'client-gateway'), 'the gateway exited after draining');

    await cluster.restart('client-gateway');
    assert.equal((await roundStatus(cluster, roundId)).committedCount, 1);
  }, 300_000);

  it('an aggregator checkpoints what it folded and hands its ranges back before it exits', async () => {
    const length = 3_000;
    const roundId = await newRound(cluster, length, 1, 2);
    await submit(cluster, roundId, 'finish-a', makeUpdate(length, 7, 0.5));
    await waitFor('the fold to start', async () => (await rangeOwner(redis, cluster, roundId)) !== '', 10_000);
    await sleep(300); // inside the pause after the update's fold (AGGREGATOR_TEST_FOLD_DELAY_MS), before any checkpoint
    process.kill(cluster.pidOf('aggregator-1')!, 'SIGTERM');
    await waitForExit(cluster, 'aggregator-1', 20_000);
    assert.ok(stoppedCleanly(cluster, 'aggregator-1'));
    assert.ok(cluster.logLines('aggregator-1').some((l) => l.includes('ranges checkpointed and handed back on shutdown')));
    assert.equal(await rangeOwner(redis, cluster, roundId), '', 'the range was released, not left to its lease');
    assert.equal((await roundStatus(cluster, roundId)).foldedCount, 1, 'the stopping aggregator checkpointed the update it folded');
    await cluster.restart('aggregator-1');
  }, 300_000);

  it('a deadline that passes while Redis and the aggregator are down is honoured when they return', async () => {
    const length = 3_000;
    const deadline = Date.now() + 12_000;
    const roundId = await newRound(cluster, length, 2, 10, BigInt(deadline));
    const updates = [makeUpdate(length, 21, 0.7), makeUpdate(length, 22, 0.7)];
    await submit(cluster, roundId, 'deadline-a', updates[0]!);
    await submit(cluster, roundId, 'deadline-b', updates[1]!);
    await waitFor('both folds', async () => (await roundStatus(cluster, roundId)).foldedCount === 2, 10_000);
    assert.ok(Date.now() < deadline - 1_000, 'precondition: everything goes down before the deadline');
    await cluster.kill('aggregator-1', 'SIGKILL');
    await cluster.privateRedis!.kill();
    await sleep(deadline - Date.now() + 2_000); // the deadline passes while Redis and the aggregator are down
    await cluster.privateRedis!.restart();
    assert.equal((await roundStatus(cluster, roundId)).state, RoundState.OPEN, 'nothing closed the round while everything was down');
    await cluster.restart('aggregator-1');
    const ended = await waitForRoundEnd(cluster, roundId, 60_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await roundResult(cluster, roundId);
    assert.equal(result.header.contributionCount, 2);
    assert.ok(maxAbsDiff(result.sum, clippedSum(updates, 1)) < 1e-4);
  }, 300_000);
});

describe('a stopped aggregator hands its ranges back: the next one folds at once, not after the lease', () => {
  it('the released range is taken at once by the restarted aggregator, though the lease is a minute', async () => {
    const cluster = await LocalCluster.start({
      privateRedis: { configFile: SHIPPED_REDIS_CONF },
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
      // A minute-long lease: a takeover within seconds proves the range was released, not expired.
      env: { aggregator: { AGGREGATOR_TEST_FOLD_DELAY_MS: '2000', AGGREGATOR_RANGE_LEASE_MS: '60000', AGGREGATOR_SHUTDOWN_GRACE_MS: '300' } },
    });
    const redis = new Redis(cluster.redisUrl);
    try {
      const roundId = await newRound(cluster, 3_000, 1, 3);
      const values = [makeUpdate(3_000, 9, 0.6), makeUpdate(3_000, 10, 0.6)];
      await submit(cluster, roundId, 'handback-a', values[0]!);
      await waitFor('the fold to start', async () => (await rangeOwner(redis, cluster, roundId)) !== '', 10_000);
      process.kill(cluster.pidOf('aggregator-1')!, 'SIGTERM');
      await waitForExit(cluster, 'aggregator-1', 10_000);
      assert.ok(stoppedCleanly(cluster, 'aggregator-1'));
      assert.equal(await rangeOwner(redis, cluster, roundId), '', 'released on shutdown');
      await submit(cluster, roundId, 'handback-b', values[1]!);

      const restarted = Date.now();
      await cluster.restart('aggregator-1');
      await waitFor('both folds', async () => (await roundStatus(cluster, roundId)).foldedCount === 2, 30_000);
      assert.ok(Date.now() - restarted < 30_000, 'folded well before the 60 s lease could have expired');
      await closeRound(cluster, roundId);
      const ended = await waitForRoundEnd(cluster, roundId, 30_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      const result = await roundResult(cluster, roundId);
      assert.ok(maxAbsDiff(result.sum, clippedSum(values, 1)) < 1e-4);
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  }, 180_000);
});
