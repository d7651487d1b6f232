/**
 * Resources a client holds in the gateway after authentication (issue 10,
 * Medium): the staging budget under slow uploads, one client's share of it,
 * and result downloads. Real gateway, Redis and keyholder processes; real
 * CKKS ciphertexts.
 *
 * On the gateway before these limits, an upload kept its reservation until
 * its stream went idle (60 s), a client could reserve as much as the global
 * budget, and GetResult streams were unbounded. An upload reserves its whole
 * size at its header (so that, once admitted, it can always finish:
 * staging-admission.int.test.ts); the size-scaled deadline bounds how long a
 * slow one holds it.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, createClient, type SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { stagedBytes } from '@secagg/chaos';
import { ClientService, Encoding, GetResultRequestSchema, RoundState, SubmitUpdateRequestSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { inMinutes, makeUpdate, uploadFrames, waitForEnd } from './helpers.js';

/** 10 ciphertexts of the default preset with coefficient encoding (4,096 values, 65,649 bytes each). */
const LENGTH = 10 * 4_096;
const CIPHERTEXT_BYTES = 65_649;
const UPDATE_BYTES = 10 * CIPHERTEXT_BYTES;
const PER_CLIENT_BYTES = 900_000;

describe('what an authenticated client can hold: staging and result downloads', () => {
  let cluster: LocalCluster;
  let watcher: Redis;
  let chunks: Uint8Array[];

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 1,
      env: {
        'client-gateway': {
          GATEWAY_ADMISSION_WAIT_MS: '500',
          GATEWAY_MAX_STAGED_BYTES_PER_CLIENT: String(PER_CLIENT_BYTES),
          // The update (656,490 bytes) gets 2 s + 0.66 s.
          GATEWAY_MIN_UPLOAD_BYTES_PER_SECOND: '1000000',
          GATEWAY_UPLOAD_GRACE_MS: '2000',
          GATEWAY_MAX_RESULT_STREAMS: '3',
          GATEWAY_MAX_RESULT_STREAMS_PER_CLIENT: '2',
        },
      },
    });
    watcher = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 2 });
  }, 180_000);
  afterAll(async () => {
    watcher?.disconnect();
    await cluster?.stop();
  }, 180_000);

  async function openRound(label: string): Promise<string> {
    const coordinator = await cluster.client('coordinator', `${label}-coordinator`);
    const round = await coordinator.createRound({
      vectorLength: LENGTH, minClients: 3, maxClients: 10, deadlineUnixMs: inMinutes(10), clipNorm: 1, noiseMultiplier: 1,
      privacyGroup: label, encoding: Encoding.COEFFICIENTS,
    });
    if (!chunks) {
      const { round: info, publicKey } = await coordinator.getRound(round.roundId);
      assert.equal(info!.ckks!.ciphertextBytes, CIPHERTEXT_BYTES);
      const params = toCkksParams(info!.ckks!);
      using engine = await CkksEngine.create(params);
      using encryptor = engine.createEncryptor(publicKey);
      chunks = [...encryptVector(encryptor, params, clipToNorm(makeUpdate(LENGTH, 7, 1), 1).values)];
      assert.equal(chunks.length, 10);
    }
    coordinator.close();
    return round.roundId;
  }

  /** Starts a raw upload of `subject` sending `frames`, then waiting (unfinished) until `hold` resolves. */
  async function rawUpload(subject: string, frames: SubmitUpdateRequest[], hold: Promise<void>): Promise<unknown> {
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', subject)}`);
    async function* send() {
      yield* frames;
      await hold;
    }
    return raw.submitUpdate(send(), { metadata }).then(
      (ok) => ok,
      (error: unknown) => error,
    ).finally(() => raw.close());
  }

  const staged = () => stagedBytes(watcher, cluster.keyPrefix);

  async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  it('a slow upload holds its update\'s size until its size-scaled deadline cancels it, well before the idle timeout', async () => {
    const roundId = await openRound('slow');
    let finish!: () => void;
    const never = new Promise<void>((resolve) => (finish = resolve));
    const frames = uploadFrames(roundId, 'slow', LENGTH, chunks).slice(0, 2); // header and chunk 0, then silence
    const outcome = rawUpload('slow-client', frames, never);
    await until('the slow upload to reserve', async () => (await staged()) > 0);
    assert.equal(await staged(), UPDATE_BYTES, 'the slow upload holds exactly its update: all it needs to finish, no more');
    // Well before the stream's idle timeout (60 s), the size-scaled deadline (2.66 s) ends it.
    const error = (await Promise.race([outcome, sleep(20_000).then(() => 'still running')])) as SecaggError | string;
    finish();
    assert.notEqual(error, 'still running', 'the slow upload was not cancelled');
    assert.equal((error as SecaggError).code, Code.DeadlineExceeded);
    assert.match((error as SecaggError).message, /slower than 1000000 bytes\/s/);
    await until('its reservation to be released', async () => (await staged()) === 0);
  }, 180_000);

  it("one client cannot hold more than its share of the staging budget across uploads; other clients still upload", async () => {
    const first = await openRound('greedy-1');
    const second = await openRound('greedy-2');
    let finish!: () => void;
    const hold = new Promise<void>((resolve) => (finish = resolve));
    // All chunks of the first upload, no trailer: it holds the whole update.
    const holding = rawUpload('greedy', uploadFrames(first, 'g1', LENGTH, chunks).slice(0, 11), hold);
    await until('the first upload to hold its update', async () => (await staged()) >= UPDATE_BYTES);
    const refused = (await rawUpload('greedy', uploadFrames(second, 'g2', LENGTH, chunks), Promise.resolve())) as SecaggError;
    assert.equal(refused.code, Code.ResourceExhausted, String(refused.message));
    assert.match(refused.message, /this client's uploads hold its staging share \(900000 bytes\)/);
    // Another client's upload to the same round goes through meanwhile.
    const other = await cluster.client('client', 'greedy-neighbour');
    const receipt = await other.submitUpdate(second, makeUpdate(LENGTH, 3, 1));
    other.close();
    assert.equal(receipt.receipt.roundId, second);
    finish();
    await holding;
    await until('every reservation to be released', async () => (await staged()) === 0);
  }, 180_000);

  it('result downloads are capped per client and per gateway; a freed slot serves the SDK again', async () => {
    const roundId = await openRound('results');
    for (let i = 0; i < 3; i++) {
      const client = await cluster.client('client', `results-client-${i}`);
      await client.submitUpdate(roundId, makeUpdate(LENGTH, 10 + i, 1));
      client.close();
    }
    const coordinator = await cluster.client('coordinator', 'results-coordinator');
    await coordinator.closeRound(roundId);
    const ended = await waitForEnd(coordinator, roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    coordinator.close();

    const channel = new grpc.Client(cluster.gatewayAddress, cluster.channelCredentials());
    const request = Buffer.from(toBinary(GetResultRequestSchema, create(GetResultRequestSchema, { roundId, valuesPerMessage: 1 })));
    /** Opens a download of one value per message and stops reading it: resolves 'open' once it streams, or the refusal's code. */
    const download = async (subject: string, role: 'client' | 'coordinator' = 'client') => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${await cluster.token(role, subject)}`);
      const call = channel.makeServerStreamRequest('/secagg.client.v1.ClientService/GetResult', (b: Buffer) => b, (b: Buffer) => b, request, metadata);
      const state = await new Promise<string | number>((resolve) => {
        call.once('data', () => {
          call.pause();
          resolve('open');
        });
        call.once('error', (e: grpc.ServiceError) => resolve(e.code));
      });
      call.on('error', () => {});
      return { call, state };
    };
    const a1 = await download('results-client-0');
    const a2 = await download('results-client-0');
    assert.equal(a1.state, 'open');
    assert.equal(a2.state, 'open');
    assert.equal((await download('results-client-0')).state, grpc.status.RESOURCE_EXHAUSTED, 'a third download of one client');
    const b1 = await download('results-client-1');
    assert.equal(b1.state, 'open');
    assert.equal((await download('results-client-2')).state, grpc.status.RESOURCE_EXHAUSTED, 'a fourth download on the gateway');

    a1.call.cancel();
    const sdk = await cluster.client('client', 'results-client-2');
    let result;
    for (let attempt = 0; ; attempt++) {
      try {
        result = await sdk.getResult(roundId);
        break;
      } catch (error) {
        // The gateway notices the cancelled stream a moment later.
        if ((error as SecaggError).code !== Code.ResourceExhausted || attempt > 50) throw error;
        await sleep(100);
      }
    }
    sdk.close();
    assert.equal(result.sum.length, LENGTH);
    a2.call.cancel();
    b1.call.cancel();
    channel.close();
  }, 180_000);
});
