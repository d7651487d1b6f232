/**
 * A full round through all three services as real processes, real Redis and
 * real node-seal: correctness with and without noise, min clients, duplicates,
 * malformed input, and where secret keys may live.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Code, createClient, SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { create } from '@bufbuild/protobuf';
import { ClientService, RoundState, SubmitUpdateRequestSchema } from '@secagg/proto';
import { LocalCluster, REPO_ROOT } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, submitEach, uploadFrames, waitForEnd } from './helpers.js';

const LENGTH = 10_007; // not a multiple of the slot count
const CLIENTS = 5;
/** Noise-free (test-only) releases are charged epsilon = Infinity: they get a privacy group of their own. */
const NOISE_FREE_GROUP = 'noise-free-tests';

describe('a full round through gateway, aggregators and keyholder', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 2, allowUnsafeNoiseFreeRelease: true });
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 300_000);

  const submitAll = (roundId: string, tag: string, updates: Float64Array[]) => submitEach(cluster, roundId, tag, updates);

  it('releases the exact sum of the clipped updates when noise is disabled (test-only flag)', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    // Norms 0.5 to 2.5: some updates are clipped, some are not.
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, i + 1, 0.5 + i * 0.5));
    await submitAll(round.roundId, 'exact', updates);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    assert.equal(ended.committedCount, CLIENTS);
    assert.equal(ended.foldedCount, CLIENTS);
    const result = await coordinator.getResult(round.roundId);
    assert.equal(result.header.contributionCount, CLIENTS);
    assert.equal(result.header.noiseDisabled, true);
    assert.equal(result.sum.length, LENGTH);
    const expected = clippedSum(updates, 1);
    assert.ok(maxAbsDiff(result.sum, expected) < 1e-4, `max error ${maxAbsDiff(result.sum, expected)}`);
    for (let i = 0; i < LENGTH; i += 997) assert.ok(Math.abs(result.mean[i]! - expected[i]! / CLIENTS) < 1e-4);
    coordinator.close();
  }, 300_000);

  it('with noise on, the released mean is within 6 sigma/count of the true mean', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const clipNorm = 2;
    // z = 8: 5 clients on n4096-q54 then flood the CKKS error by 40.9 bits (z = 0.5 gives 36.9 < the 40-bit minimum and
    // costs epsilon 10.7 > the default budget 10; docs/PRIVACY.md).
    const z = 8;
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS,
      deadlineUnixMs: inMinutes(10),
      clipNorm,
      noiseMultiplier: z,
    });
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 100 + i, 3));
    await submitAll(round.roundId, 'noisy', updates);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.equal(result.header.noiseSigma, z * clipNorm);
    assert.ok(result.header.epsilonSpent > 0 && Number.isFinite(result.header.epsilonSpent));
    const trueMean = clippedSum(updates, clipNorm).map((v) => v / CLIENTS);
    const sigmaMean = result.header.noiseSigma / CLIENTS;
    const diff = maxAbsDiff(result.mean, trueMean);
    assert.ok(diff <= 6 * sigmaMean, `max diff ${diff} > 6 sigma/count ${6 * sigmaMean}`);
    // Noise is really there: the empirical std of (released - true) is close to sigma/count.
    let sq = 0;
    for (let i = 0; i < LENGTH; i++) sq += (result.mean[i]! - trueMean[i]!) ** 2;
    const std = Math.sqrt(sq / LENGTH);
    assert.ok(std > 0.9 * sigmaMean && std < 1.1 * sigmaMean, `noise std ${std} vs sigma/count ${sigmaMean}`);
    coordinator.close();
  }, 300_000);

  it('a round below min clients releases nothing and says why', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: 300,
      minClients: 3,
      maxClients: 10,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 16, // 40.4 bits of flooding margin with 10 max clients (z = 1: 36.4 < 40; docs/PRIVACY.md)
    });
    await submitAll(round.roundId, 'few', [makeUpdate(300, 1, 1), makeUpdate(300, 2, 1)]);
    const closed = await coordinator.closeRound(round.roundId);
    assert.notEqual(closed.state, RoundState.OPEN);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.FAILED);
    assert.match(ended.failureReason, /only 2 of the required 3/);
    await assert.rejects(coordinator.getResult(round.roundId), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.match(e.message, /only 2 of the required 3/);
      return true;
    });
    // Late submissions are refused once the round is closed.
    const late = await cluster.client('client', 'few-client-late');
    await assert.rejects(late.submitUpdate(round.roundId, makeUpdate(300, 3, 1)), (e: SecaggError) => e.code === Code.FailedPrecondition);
    late.close();
    coordinator.close();
  }, 300_000);

  it('counts a repeated update once, and refuses a second update id from the same client', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: 2_000,
      minClients: 2,
      maxClients: 3,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const a = makeUpdate(2_000, 7, 0.8);
    const b = makeUpdate(2_000, 8, 0.8);
    const alice = await cluster.client('client', 'dup-alice');
    const first = await alice.submitUpdate(round.roundId, a, { updateId: 'alice-1' });
    const again = await alice.submitUpdate(round.roundId, a, { updateId: 'alice-1' });
    assert.deepEqual(again.receipt.sha256, first.receipt.sha256);
    assert.equal(again.receipt.committedUnixMs, first.receipt.committedUnixMs);
    await assert.rejects(alice.submitUpdate(round.roundId, b, { updateId: 'alice-2' }), (e: SecaggError) => {
      assert.equal(e.code, Code.AlreadyExists);
      assert.match(e.message, /already committed update alice-1/);
      return true;
    });
    const bob = await cluster.client('client', 'dup-bob');
    await bob.submitUpdate(round.roundId, b, { updateId: 'alice-1' }); // same id, other client: a different update
    assert.equal((await coordinator.getRoundStatus(round.roundId)).committedCount, 2);
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.equal(result.header.contributionCount, 2);
    assert.ok(maxAbsDiff(result.sum, clippedSum([a, b], 1)) < 1e-4);
    alice.close();
    bob.close();
    coordinator.close();
  }, 300_000);

  it('rejects a malformed ciphertext naming the chunk, and the round still completes correctly', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const length = 20_000; // at least 3 ciphertexts with either encoding
    const round = await coordinator.createRound({
      vectorLength: length,
      minClients: 2,
      maxClients: 2,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const { round: info, publicKey } = await coordinator.getRound(round.roundId);
    const params = toCkksParams(info!.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);
    const evil = makeUpdate(length, 99, 0.5);
    const chunks = [...encryptVector(encryptor, params, clipToNorm(evil, 1).values)];
    const bad = Buffer.from(chunks[2]!);
    bad.fill(0xff, bad.length - 8); // last coefficient = 2^64 - 1 >= q
    chunks[2] = bad;
    const frames = uploadFrames(round.roundId, 'evil-1', length, chunks);
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', 'evil')}`);
    await assert.rejects(raw.submitUpdate(frames, { metadata }), (e: SecaggError) => {
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /^chunk 2: /);
      return true;
    });
    // Wrong vector length in the header.
    const header = create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId: round.roundId, updateId: 'evil-2', vectorLength: length + 1, ciphertextCount: chunks.length } } });
    await assert.rejects(raw.submitUpdate([header], { metadata }), (e: SecaggError) => e.code === Code.InvalidArgument && /vector_length/.test(e.message));
    // No token at all.
    await assert.rejects(raw.submitUpdate(frames), (e: SecaggError) => e.code === Code.Unauthenticated);
    raw.close();
    assert.equal((await coordinator.getRoundStatus(round.roundId)).committedCount, 0, 'nothing of the bad update was committed');

    // The service is still healthy, and the same client can still submit a good update.
    const honest = [makeUpdate(length, 1, 0.7), makeUpdate(length, 2, 0.7)];
    const evilClient = await cluster.client('client', 'evil');
    await evilClient.submitUpdate(round.roundId, honest[0]!);
    evilClient.close();
    const other = await cluster.client('client', 'honest');
    await other.submitUpdate(round.roundId, honest[1]!);
    other.close();
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.ok(maxAbsDiff(result.sum, clippedSum(honest, 1)) < 1e-4);
    coordinator.close();
  }, 300_000);

  it('gateway and aggregators are never given secret material and never touch a decryptor', () => {
    for (const name of cluster.processNames().filter((n) => n !== 'keyholder')) {
      const env = cluster.environmentOf(name);
      for (const key of Object.keys(env)) {
        assert.doesNotMatch(key, /KEK|SECRET|DATA_DIR/, `${name} is configured with ${key}`);
      }
    }
    assert.ok(Object.keys(cluster.environmentOf('keyholder')).includes('KEYHOLDER_KEK'));
    // Nothing the gateway or aggregator runs can create or use a secret key.
    for (const service of ['client-gateway', 'aggregator']) {
      for (const file of jsFiles(join(REPO_ROOT, 'services', service, 'dist'))) {
        const code = readFileSync(file, 'utf8');
        assert.doesNotMatch(code, /createDecryptor|generateKeyPair|CkksEngine|node-seal/, `${file} reaches for SEAL keys`);
      }
    }
  }, 300_000);
});

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return path.endsWith('.js') && !path.endsWith('.test.js') ? [path] : [];
  });
}
