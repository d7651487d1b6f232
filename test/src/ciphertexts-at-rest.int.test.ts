/**
 * Where ciphertexts rest, and for how long (issue 10 "keys survive
 * destruction": individual ciphertexts must not outlive their round; issue 11:
 * Redis holds metadata only). A round on the shipped Redis config (AOF,
 * appendfsync always): every ciphertext a client uploaded sits in the
 * ciphertext store until the round ends, and never in Redis — not in its
 * memory, not in its AOF — so an AOF copied at any time holds no individual
 * update; once the round is released, the store holds nothing of it either.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { createClient } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, RoundState } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { waitForRoundEnd } from '@secagg/chaos';
import { inMinutes, makeUpdate, uploadFrames } from './helpers.js';

const LENGTH = 9_000; // three ciphertexts per update
const CLIENTS = 3;

/** Every file under `dir` (recursively). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The files among `files` that contain `needle`. */
function holding(files: string[], needle: Buffer): string[] {
  return files.filter((file) => readFileSync(file).includes(needle));
}

describe('ciphertexts rest in the ciphertext store, never in Redis, and go with their round', () => {
  let cluster: LocalCluster;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ privateRedis: { configFile: SHIPPED_REDIS_CONF }, aggregators: 1, allowUnsafeNoiseFreeRelease: true });
    redis = new Redis(cluster.redisUrl);
  }, 300_000);
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  }, 300_000);

  it('no uploaded ciphertext in the AOF or in Redis at any point; none left in the store after the release', async () => {
    const coordinator = await cluster.client('coordinator', 'at-rest-coordinator');
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    try {
      const round = await coordinator.createRound({
        vectorLength: LENGTH,
        minClients: CLIENTS,
        maxClients: CLIENTS + 1,
        deadlineUnixMs: inMinutes(10),
        clipNorm: 1,
        noiseMultiplier: 0,
        unsafeDisableNoise: true,
      });
      const { publicKey } = await coordinator.getRound(round.roundId);
      const params = toCkksParams(round.ckks!);
      using engine = await CkksEngine.create(params);
      using encryptor = engine.createEncryptor(publicKey);
      // A marker of each update: 64 bytes of its second ciphertext's coefficient data (random-looking, unique).
      const markers: Buffer[] = [];
      for (let c = 0; c < CLIENTS; c++) {
        const chunks = [...encryptVector(encryptor, params, clipToNorm(makeUpdate(LENGTH, c + 1, 0.5), 1).values)];
        markers.push(Buffer.from(chunks[1]!.subarray(4_000, 4_064)));
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${await cluster.token('client', `at-rest-${c}`)}`);
        await raw.submitUpdate(uploadFrames(round.roundId, `u-${c}`, LENGTH, chunks), { metadata });
      }

      // While the round is open: the updates are in the ciphertext store, not in Redis or its AOF.
      const store = filesUnder(cluster.ciphertextStore);
      for (const [c, marker] of markers.entries()) assert.equal(holding(store, marker).length, 1, `update ${c} is in one object of the store`);
      const aof = filesUnder(cluster.privateRedis!.dir).filter((file) => /appendonly|\.aof|\.rdb/.test(file));
      assert.ok(aof.length > 0, 'the shipped config writes an AOF');
      for (const [c, marker] of markers.entries()) assert.deepEqual(holding(aof, marker), [], `update ${c} is not in the AOF`);
      for (const key of await redis.keys(`${cluster.keyPrefix}:*`)) {
        const type = await redis.type(key);
        const dump = await redis.dumpBuffer(key);
        for (const marker of markers) assert.ok(!dump?.includes(marker), `no update in Redis key ${key} (${type})`);
      }

      await coordinator.closeRound(round.roundId);
      const ended = await waitForRoundEnd(cluster, round.roundId, 120_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      // After the release: nothing of the round is left in the store (updates, checkpoints), and the AOF still holds none.
      assert.deepEqual(
        filesUnder(cluster.ciphertextStore).filter((file) => file.includes(round.roundId)),
        [],
        'the round has no objects left',
      );
      for (const marker of markers) assert.deepEqual(holding(filesUnder(cluster.privateRedis!.dir), marker), []);
    } finally {
      raw.close();
      coordinator.close();
    }
  }, 300_000);
});
