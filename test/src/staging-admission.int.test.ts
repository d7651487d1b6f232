/**
 * Staging admission under contention (the livelock found by issue 11's
 * 10M-value memory run): more concurrent uploads than the staged-bytes budget
 * (GATEWAY_MAX_STAGED_BYTES) holds. An upload reserves its whole size at its
 * header, so once admitted it always finishes; the others wait unread at
 * admission and are told to retry (RESOURCE_EXHAUSTED, `retry-after-ms`),
 * which the SDK does. Real gateway, aggregator and keyholder processes, real
 * Redis, real CKKS ciphertexts.
 *
 * The former gateway reserved 16 MiB steps as chunks arrived: every upload was
 * admitted with one step, all grew until the budget was full, none could grow
 * further, and each was refused mid-stream after the admission wait, losing
 * what it had staged (0 of 40 160 MB uploads committed in 10 minutes). This
 * test's budget is 3 such steps and a bit: two uploads hold a part each, a
 * third is admitted beside them, and then none of the three can finish.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { PeakSampler, stagedBytes } from '@secagg/chaos';
import { ClientService, RoundState, type SubmitUpdateRequest, type SubmitUpdateResponse } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { clipToNorm, type SubmitResult } from '@secagg/sdk';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, metricSample, scrape, uploadFrames, waitForEnd } from './helpers.js';

/** 300 ciphertexts of the default preset and encoding (4,096 coefficients, 65,649 bytes each): 19.7 MB, more than one former 16 MiB step. */
const CIPHERTEXTS = 300;
const LENGTH = CIPHERTEXTS * 4_096;
const CIPHERTEXT_BYTES = 65_649;
const UPDATE_BYTES = CIPHERTEXTS * CIPHERTEXT_BYTES;
/** Room for two whole updates (51.4 MB against 19.7 MB each), not three; three of the former 16 MiB steps. */
const BUDGET = 3 * 16 * 1024 * 1024 + 1024 * 1024;
/** SDK clients that start while two raw uploads hold the budget. */
const CLIENTS = 8;
const HOLDERS = 2;
const NOISE_FREE_GROUP = 'noise-free-staging';

describe('staging admission: an admitted upload always finishes', () => {
  let cluster: LocalCluster;
  let watcher: Redis;

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 1,
      allowUnsafeNoiseFreeRelease: true,
      env: { 'client-gateway': { GATEWAY_MAX_STAGED_BYTES: String(BUDGET), GATEWAY_ADMISSION_WAIT_MS: '5000' } },
    });
    watcher = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 2 });
  });
  afterAll(async () => {
    watcher?.disconnect();
    await cluster?.stop();
  });

  /** A raw upload of `subject` that sends `held` chunks, waits for `go`, then the rest and the trailer. */
  async function heldUpload(subject: string, frames: SubmitUpdateRequest[], held: number, go: Promise<void>): Promise<SubmitUpdateResponse | Error> {
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', subject)}`);
    async function* send() {
      yield* frames.slice(0, 1 + held);
      await go;
      yield* frames.slice(1 + held);
    }
    return raw
      .submitUpdate(send(), { metadata })
      .then(
        (ok) => ok,
        (error: Error) => error,
      )
      .finally(() => raw.close());
  }

  it(`${CLIENTS} SDK uploads and ${HOLDERS} held ones against a budget of two updates: every one commits, none is refused mid-stream, the sum is exact`, async () => {
    const coordinator = await cluster.client('coordinator', 'staging-coordinator');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS + HOLDERS,
      maxClients: CLIENTS + HOLDERS,
      deadlineUnixMs: inMinutes(30),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const { round: info, publicKey } = await coordinator.getRound(round.roundId);
    assert.equal(info!.ckks!.ciphertextCount, CIPHERTEXTS);
    assert.equal(info!.ckks!.ciphertextBytes, CIPHERTEXT_BYTES);
    assert.ok(2 * UPDATE_BYTES <= BUDGET && 3 * UPDATE_BYTES > BUDGET, 'the budget holds two updates, not three');

    const holderUpdate = makeUpdate(LENGTH, 1_000, 1);
    const params = toCkksParams(info!.ckks!);
    let chunks: Uint8Array[];
    {
      using engine = await CkksEngine.create(params);
      using encryptor = engine.createEncryptor(publicKey);
      chunks = [...encryptVector(encryptor, params, clipToNorm(holderUpdate, 1).values)];
    }
    const staged = new PeakSampler(() => stagedBytes(watcher, cluster.keyPrefix), 20).start();

    // Two uploads take the budget and stop after 100 chunks (6.6 MB, part of their update).
    let release!: () => void;
    const go = new Promise<void>((resolve) => (release = resolve));
    const holders = Array.from({ length: HOLDERS }, (_, i) =>
      heldUpload(`staging-holder-${i}`, uploadFrames(round.roundId, `held-${i}`, LENGTH, chunks), 100, go),
    );
    const deadline = Date.now() + 60_000;
    while ((await stagedBytes(watcher, cluster.keyPrefix)) <= BUDGET - UPDATE_BYTES) {
      assert.ok(Date.now() < deadline, 'the held uploads never took the budget');
      await sleep(50);
    }

    // Eight SDK clients start uploading meanwhile; once every one of them is streaming, the held uploads go on.
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, i + 1, 0.5 + i * 0.25));
    // Patience for waiting at admission behind the others, not a limit under test.
    const clients = await Promise.all(updates.map((_, i) => cluster.client('client', `staging-client-${i}`, { maxAttempts: 200 })));
    const streaming = new Set<number>();
    let held: (SubmitUpdateResponse | Error)[];
    let sent: SubmitResult[];
    try {
      const submissions = clients.map((client, i) =>
        client.submitUpdate(round.roundId, updates[i]!, {
          onProgress: () => {
            streaming.add(i);
            if (streaming.size === CLIENTS) release();
          },
        }),
      );
      // Observed below; if the test fails first, their rejections (clients closed) are expected.
      for (const submission of submissions) submission.catch(() => {});
      held = await Promise.all(holders);
      // A held upload refused mid-stream fails the test now rather than after every client's patience.
      for (const [i, outcome] of held.entries()) {
        assert.ok(!(outcome instanceof Error), `held upload ${i} was refused: ${outcome instanceof Error ? outcome.message : ''}`);
      }
      sent = await Promise.all(submissions);
    } finally {
      release();
      for (const client of clients) client.close();
      await staged.stop();
    }
    for (const outcome of held) assert.equal((outcome as SubmitUpdateResponse).receipt!.roundId, round.roundId);
    assert.equal(sent.length, CLIENTS);
    console.log(`SDK attempts per client: ${sent.map((s) => s.attempts).join(' ')}`);

    const ended = await waitForEnd(coordinator, round.roundId, 300_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    assert.equal(ended.committedCount, CLIENTS + HOLDERS);
    const result = await coordinator.getResult(round.roundId);
    coordinator.close();
    assert.equal(result.header.contributionCount, CLIENTS + HOLDERS);
    const expected = clippedSum([...updates, ...Array.from({ length: HOLDERS }, () => holderUpdate)], 1);
    assert.ok(maxAbsDiff(result.sum, expected) < 1e-4, `max error ${maxAbsDiff(result.sum, expected)}`);

    const peak = staged.max;
    assert.ok(peak <= BUDGET, `staged bytes reached ${peak} > the budget ${BUDGET}`);
    assert.equal(await stagedBytes(watcher, cluster.keyPrefix), 0, 'every reservation was given back');

    const metrics = await scrape(cluster.metricsPorts.get('client-gateway')!);
    const waitedOut = metricSample(metrics, 'secagg_grpc_refusals_total', { method: '/secagg.client.v1.ClientService/SubmitUpdate', reason: 'staging_budget' });
    console.log(`staging_budget refusals (all at admission): ${waitedOut}`);
    // No admitted upload was thrown away: not for the budget, not for any other reason.
    assert.equal(metricSample(metrics, 'secagg_uploads_discarded_total'), 0, metrics.split('\n').filter((l) => l.startsWith('secagg_uploads_discarded_total')).join('; '));
  });
});
