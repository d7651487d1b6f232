/**
 * Where ciphertexts rest, and for how long (issue 10 "keys survive
 * destruction": individual ciphertexts must not outlive their round; issue 11:
 * Redis holds metadata only). A round on the shipped Redis config (AOF,
 * appendfsync always): every ciphertext a client uploaded sits in the
 * ciphertext store until the round ends, and never in Redis — not in its
 * memory, not in its AOF — so an AOF copied at any time holds no individual
 * update; once the round is released, the store holds nothing of it either
 * but the released noisy sum, which is not in Redis either: Redis keeps only
 * its record (object name, SHA-256, length), and the gateway refuses to
 * serve a result object that does not match that record.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { Code, createClient, isSecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, RoundState } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { RoundKeys } from '@secagg/store';
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

  it('no uploaded ciphertext in the AOF or in Redis at any point; after the release no Redis key above 64 KiB, and only the released sum left in the store', async () => {
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
      // Redis holds metadata only: no key's value is larger than 64 KiB, but the round's public key (65,730 B: its size is the preset's, not the vector's).
      const publicKeyKey = new RoundKeys(cluster.keyPrefix, round.roundId).publicKey;
      for (const key of await redis.keys(`${cluster.keyPrefix}:*`)) {
        const bytes = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
        if (key === publicKeyKey) assert.equal(await redis.strlen(key), publicKey.byteLength, `${key} is the public key`);
        else assert.ok(bytes < 64 * 1024, `Redis key ${key} (${await redis.type(key)}) holds ${bytes} B: the result sum (${LENGTH * 8} B) is not in Redis`);
      }

      // After the release: nothing of the round is left in the store (updates, checkpoints) but its result, and the AOF still holds no update.
      const left = filesUnder(cluster.ciphertextStore).filter((file) => file.includes(round.roundId));
      assert.equal(left.length, 1, `only the result object is left: ${left.join(', ')}`);
      const recorded = await redis.hgetall(new RoundKeys(cluster.keyPrefix, round.roundId).resultObject);
      assert.ok(left[0]!.endsWith(`/${recorded.name}`), 'the one object left is the recorded result');
      const resultBytes = readFileSync(left[0]!);
      assert.equal(resultBytes.byteLength, LENGTH * 8);
      assert.deepEqual([Number(recorded.bytes), recorded.sha256], [LENGTH * 8, createHash('sha256').update(resultBytes).digest('hex')]);
      for (const marker of markers) assert.deepEqual(holding(filesUnder(cluster.privateRedis!.dir), marker), []);
      const result = await coordinator.getResult(round.roundId);
      assert.deepEqual(Buffer.from(result.sum.buffer, result.sum.byteOffset, result.sum.byteLength), resultBytes, 'the download is the object');
    } finally {
      raw.close();
      coordinator.close();
    }
  });

  it('a result object that does not match its record is refused (DATA_LOSS), never served', async () => {
    const coordinator = await cluster.client('coordinator', 'at-rest-coordinator');
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    try {
      const round = await coordinator.createRound({
        vectorLength: LENGTH,
        minClients: CLIENTS,
        maxClients: CLIENTS,
        deadlineUnixMs: inMinutes(10),
        clipNorm: 1,
        noiseMultiplier: 0,
        unsafeDisableNoise: true,
      });
      const { publicKey } = await coordinator.getRound(round.roundId);
      const params = toCkksParams(round.ckks!);
      using engine = await CkksEngine.create(params);
      using encryptor = engine.createEncryptor(publicKey);
      for (let c = 0; c < CLIENTS; c++) {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${await cluster.token('client', `corrupt-${c}`)}`);
        const chunks = [...encryptVector(encryptor, params, clipToNorm(makeUpdate(LENGTH, c + 7, 0.5), 1).values)];
        await raw.submitUpdate(uploadFrames(round.roundId, `u-${c}`, LENGTH, chunks), { metadata });
      }
      const ended = await waitForRoundEnd(cluster, round.roundId, 120_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      const { name } = await redis.hgetall(new RoundKeys(cluster.keyPrefix, round.roundId).resultObject);
      const file = join(cluster.ciphertextStore, round.roundId, name!);
      const good = readFileSync(file);

      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${await cluster.token('coordinator', 'at-rest-coordinator')}`);
      /** Reads the result stream raw: the messages received before it ended, and how it ended. */
      const download = async () => {
        let messages = 0;
        try {
          for await (const _ of raw.getResult({ roundId: round.roundId }, { metadata })) messages++;
          return { messages, error: undefined };
        } catch (error) {
          return { messages, error };
        }
      };
      assert.equal((await download()).messages, 1 + 1, 'intact: the header and one message of 9,000 values');

      const flipped = Buffer.from(good);
      flipped[LENGTH * 4]! ^= 0x01; // one bit of one value
      writeFileSync(file, flipped);
      const corrupt = await download();
      assert.ok(isSecaggError(corrupt.error, Code.DataLoss) && corrupt.error.reason === 'result_corrupt', `a flipped bit: ${String(corrupt.error)}`);
      assert.equal(corrupt.messages, 0, 'not even the header is sent');

      truncateSync(file, LENGTH * 8 - 8);
      const short = await download();
      assert.ok(isSecaggError(short.error, Code.DataLoss) && short.error.reason === 'result_corrupt', `a truncated object: ${String(short.error)}`);
      assert.match((short.error as Error).message, /holds 71992 bytes, not the 72000 recorded/);

      rmSync(file);
      const gone = await download();
      assert.ok(isSecaggError(gone.error, Code.DataLoss) && gone.error.reason === 'result_missing', `a deleted object: ${String(gone.error)}`);
      assert.equal(gone.messages, 0);

      writeFileSync(file, good);
      assert.equal((await download()).messages, 2, 'the intact bytes are served again');

      // A round released by a version that kept the sum in Redis (no object record, the runs in result:sum) is still served.
      const k = new RoundKeys(cluster.keyPrefix, round.roundId);
      await redis.del(k.resultObject);
      await redis.rpush(k.legacyResultSum, good.subarray(0, 4_000 * 8), good.subarray(4_000 * 8));
      const legacy = await coordinator.getResult(round.roundId);
      assert.deepEqual(Buffer.from(legacy.sum.buffer, legacy.sum.byteOffset, legacy.sum.byteLength), good);
    } finally {
      raw.close();
      coordinator.close();
    }
  }, 300_000);
});
