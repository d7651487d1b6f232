/**
 * Acknowledged means durable, and a broken upload adds nothing: kill -9 of
 * Redis (shipped config: AOF, appendfsync always) right after a receipt keeps
 * the update; a stream cut after half its chunks — by the client or by a
 * SIGKILLed gateway — commits and folds nothing, and the retry with the same
 * update id completes it exactly once.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { Code, createClient, isSecaggError, SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, RoundState, SubmitUpdateRequestSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { roundResult, roundStatus, stagedBytes as stagedBytesIn, waitForRoundEnd } from '@secagg/chaos';
import { asClient, clippedSum, inMinutes, makeUpdate, maxAbsDiff } from './helpers.js';

async function newRound(cluster: LocalCluster, length: number, clients: number): Promise<string> {
  const coordinator = await cluster.client('coordinator', 'coord');
  try {
    const round = await coordinator.createRound({
      vectorLength: length,
      minClients: clients,
      maxClients: clients,
      deadlineUnixMs: inMinutes(30),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
    });
    return round.roundId;
  } finally {
    coordinator.close();
  }
}

function submit(cluster: LocalCluster, roundId: string, subject: string, values: Float64Array, updateId: string) {
  return asClient(cluster, subject, (client) => client.submitUpdate(roundId, values, { updateId }));
}

describe('durable receipts and broken uploads', () => {
  let cluster: LocalCluster;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      privateRedis: { configFile: SHIPPED_REDIS_CONF },
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
      env: {
        aggregator: {
          // Folds wait a moment before committing, so Redis dies while the update is committed but not yet folded.
          AGGREGATOR_TEST_FOLD_DELAY_MS: '1500',
          // A job whose activation reply died with Redis is recovered once its lock expires: seconds, not a minute.
          AGGREGATOR_LOCK_DURATION_MS: '5000',
          AGGREGATOR_STALLED_CHECK_INTERVAL_MS: '2500',
        },
      },
    });
    redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: null });
    redis.on('error', () => {}); // Redis is killed on purpose below
  }, 300_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  }, 300_000);

  /** Bytes reserved by uploads in progress (the gateway's staging budget). */
  const stagedBytes = () => stagedBytesIn(redis, cluster.keyPrefix);

  it('an update acknowledged just before Redis is SIGKILLed is committed after the restart and in the final sum', async () => {
    const length = 6_000;
    const roundId = await newRound(cluster, length, 2);
    const alice = makeUpdate(length, 1, 0.9);
    const bob = makeUpdate(length, 2, 0.9);
    const receipt = await submit(cluster, roundId, 'durable-alice', alice, 'alice-1');
    await cluster.privateRedis!.kill(); // the instant the receipt arrived: no shutdown save, no goodbye
    await cluster.privateRedis!.restart(); // same port and directory: reloads the AOF
    const status = await roundStatus(cluster, roundId);
    assert.equal(status.state, RoundState.OPEN);
    assert.equal(status.committedCount, 1, 'the acknowledged update survived kill -9 of Redis');
    const again = await submit(cluster, roundId, 'durable-alice', alice, 'alice-1');
    assert.deepEqual(again.receipt.sha256, receipt.receipt.sha256, 'the retry is answered with the original receipt');
    assert.equal(again.receipt.committedUnixMs, receipt.receipt.committedUnixMs);

    await submit(cluster, roundId, 'durable-bob', bob, 'bob-1'); // max clients: the round closes
    const ended = await waitForRoundEnd(cluster, roundId, 120_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await roundResult(cluster, roundId);
    assert.equal(result.header.contributionCount, 2);
    assert.ok(maxAbsDiff(result.sum, clippedSum([alice, bob], 1)) < 1e-4, 'the sum holds both updates, each once');
  }, 300_000);

  /** Streams header + the first `sent` chunks of `values`, then holds the stream open until `cut` ends it. */
  async function halfUpload(roundId: string, subject: string, updateId: string, values: Float64Array, cut: (abort: () => void) => Promise<void>) {
    const reader = await cluster.client('client', subject);
    const { round, publicKey } = await reader.getRound(roundId);
    reader.close();
    const params = toCkksParams(round!.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);
    const chunks = [...encryptVector(encryptor, params, clipToNorm(values, 1).values)];
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    const sent = chunks.length / 2;
    const hold = new Promise<void>(() => {});
    async function* frames(): AsyncGenerator<SubmitUpdateRequest> {
      yield create(SubmitUpdateRequestSchema, {
        frame: { case: 'header', value: { roundId, updateId, vectorLength: values.length, ciphertextCount: chunks.length } },
      });
      for (let index = 0; index < sent; index++) {
        yield create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext: chunks[index]! } } });
      }
      await hold; // never resolves: the stream is cut, not finished
    }
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', subject)}`);
    const controller = new AbortController();
    const call = raw.submitUpdate(frames(), { metadata, signal: controller.signal }).then(
      () => assert.fail('a cut stream must not get a receipt'),
      (error: unknown) => error,
    );
    // Wait until the gateway admitted the upload and staged its first half.
    for (let i = 0; i < 100 && (await stagedBytes()) === 0; i++) await sleep(50);
    assert.ok((await stagedBytes()) > 0, 'the upload was admitted');
    await sleep(300);
    await cut(() => controller.abort());
    const error = await call;
    raw.close();
    return error as SecaggError;
  }

  it('a stream cut after half its chunks commits and folds nothing; the retry with the same id completes it once', async () => {
    const length = 4 * 4_096;
    const roundId = await newRound(cluster, length, 2);
    const a = makeUpdate(length, 11, 0.8);
    const b = makeUpdate(length, 12, 0.8);

    // 1. The client goes away mid-upload.
    const cancelled = await halfUpload(roundId, 'cut-a', 'cut-a-1', a, async (abort) => abort());
    assert.ok(isSecaggError(cancelled, Code.Cancelled), String(cancelled));
    for (let i = 0; i < 100 && (await stagedBytes()) > 0; i++) await sleep(50);
    assert.equal(await stagedBytes(), 0, 'the gateway discarded the staged half and gave its budget back');
    let status = await roundStatus(cluster, roundId);
    assert.equal(status.committedCount, 0, 'nothing of the cut upload is committed');
    assert.equal(status.foldedCount, 0, 'nothing of the cut upload is folded');

    // 2. The gateway is SIGKILLed mid-upload.
    const broken = await halfUpload(roundId, 'cut-b', 'cut-b-1', b, async () => {
      await cluster.kill('client-gateway', 'SIGKILL');
    });
    assert.ok(isSecaggError(broken, Code.Unavailable, Code.Internal, Code.Cancelled), String(broken));
    await cluster.restart('client-gateway');
    status = await roundStatus(cluster, roundId);
    assert.equal(status.committedCount, 0, 'nothing of the upload broken by the crash is committed');
    assert.equal(status.foldedCount, 0);

    // 3. Both retry with the same update ids; each counts once.
    const first = await submit(cluster, roundId, 'cut-a', a, 'cut-a-1');
    const repeat = await submit(cluster, roundId, 'cut-a', a, 'cut-a-1');
    assert.deepEqual(repeat.receipt.sha256, first.receipt.sha256);
    await submit(cluster, roundId, 'cut-b', b, 'cut-b-1');
    const ended = await waitForRoundEnd(cluster, roundId, 120_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    assert.equal(ended.committedCount, 2);
    assert.equal(ended.foldedCount, 2);
    const result = await roundResult(cluster, roundId);
    assert.equal(result.header.contributionCount, 2);
    const expected = clippedSum([a, b], 1);
    assert.ok(maxAbsDiff(result.sum, expected) < 1e-4, `max error ${maxAbsDiff(result.sum, expected)}: each update exactly once`);
  }, 300_000);
});

describe('the durability test detects loss (control: Redis without AOF)', () => {
  it('without persistence, kill -9 of Redis right after a receipt loses the round', async () => {
    const cluster = await LocalCluster.start({
      privateRedis: { configFile: SHIPPED_REDIS_CONF, args: ['--appendonly', 'no'] },
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
    });
    try {
      const roundId = await newRound(cluster, 3_000, 2);
      await submit(cluster, roundId, 'volatile-alice', makeUpdate(3_000, 1, 0.5), 'v-1');
      await cluster.privateRedis!.kill();
      await cluster.privateRedis!.restart();
      await assert.rejects(roundStatus(cluster, roundId), (e: unknown) => isSecaggError(e, Code.NotFound));
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
