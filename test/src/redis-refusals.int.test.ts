/**
 * Redis refusing writes, and a full disk under Redis (issue 12 items 6 and 7),
 * against private redis-servers:
 *
 *  - maxmemory reached (OOM, EXECABORT of the staging MULTI) answers
 *    RESOURCE_EXHAUSTED "storage is full" with a retry hint; min-replicas-to-write
 *    without a replica (NOREPLICAS) answers UNAVAILABLE with a retry hint; the
 *    SDK retries both and gets its receipt once Redis accepts writes again; no
 *    service writes a log line carrying payload bytes;
 *  - a disk that fills under Redis with appendfsync everysec (Redis stays up,
 *    refuses writes with MISCONF): the gateway's readiness is NOT_SERVING with
 *    the reason, the metric reads 0, uploads get UNAVAILABLE; once space is
 *    freed everything recovers;
 *  - the same with the shipped appendfsync always (Redis exits at every failed
 *    AOF write): the persistence watch reports the crash loop.
 *
 * On the old code: EXECABORT and NOREPLICAS were INTERNAL "internal error" (the
 * first two assertions fail), each logged with the whole chunk (~225 KB lines);
 * readiness had no persistence check (SERVING throughout).
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Code, isSecaggError } from '@secagg/core';
import { LocalCluster, SHIPPED_REDIS_CONF, startPrivateRedis } from '@secagg/local-cluster';
import { probe } from '@secagg/observability';
import { RedisPersistenceWatch } from '@secagg/store';
import { asClient, makeUpdate } from './helpers.js';

const LENGTH = 6_000;
/** No log line may come near the size of a ciphertext chunk. */
const MAX_LOG_LINE_CHARS = 16_384;

async function newRound(cluster: LocalCluster, maxClients = 10): Promise<string> {
  const coordinator = await cluster.client('coordinator', 'refusals-coordinator');
  try {
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: 1,
      maxClients,
      deadlineUnixMs: BigInt(Date.now() + 3_600_000),
      clipNorm: 1,
      noiseMultiplier: 0,
      unsafeDisableNoise: true,
    });
    return round.roundId;
  } finally {
    coordinator.close();
  }
}

function submit(cluster: LocalCluster, roundId: string, subject: string, maxAttempts: number) {
  const update = makeUpdate(LENGTH, subject.length, 0.5);
  return asClient(cluster, subject, (client) => client.submitUpdate(roundId, update, { updateId: `${subject}-1` }), { maxAttempts, initialBackoffMs: 100 });
}

function assertNoHugeLogLines(cluster: LocalCluster): void {
  for (const name of cluster.processNames()) {
    const longest = Math.max(0, ...cluster.logLines(name).map((line) => line.length));
    assert.ok(longest < MAX_LOG_LINE_CHARS, `${name} wrote a log line of ${longest} chars`);
  }
}

/** A tmpfs of `size` at a fresh directory, or undefined where mounting is not allowed. */
function tinyDisk(size: string): { dir: string; unmount(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'secagg-tiny-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  return {
    dir,
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Decided before the tests run (a test can be skipped only when it is collected): mounting needs root. */
const canMountTmpfs = (() => {
  const probe = tinyDisk('1m');
  probe?.unmount();
  return probe !== undefined;
})();

/** Writes values of `bytes` until Redis refuses one (or the connection drops); returns the error. */
async function fillUntilRefused(redis: Redis, bytes: number): Promise<Error> {
  for (let i = 0; i < 10_000; i++) {
    try {
      await redis.set(`filler:${i}`, Buffer.alloc(bytes, i % 251));
    } catch (error) {
      return error as Error;
    }
  }
  throw new Error('Redis never refused a write');
}

describe('Redis refusing writes', () => {
  let cluster: LocalCluster;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ privateRedis: {}, aggregators: 1, allowUnsafeNoiseFreeRelease: true });
    redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('maxmemory reached: RESOURCE_EXHAUSTED with a retry hint, retried by the SDK until Redis has room', async () => {
    const roundId = await newRound(cluster);
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    // Redis holds metadata only (the ciphertexts are in the ciphertext store): a limit below what it uses
    // now refuses every write that could grow it, whatever the upload's size.
    await redis.config('SET', 'maxmemory', String(used - 64 * 1024));
    try {
      await assert.rejects(submit(cluster, roundId, 'oom-alice', 1), (error: unknown) => {
        assert.ok(isSecaggError(error, Code.ResourceExhausted), `expected RESOURCE_EXHAUSTED, got ${String(error)}`);
        assert.equal(error.message, 'storage is full; retry later');
        assert.equal(error.retryAfterMs, 1_000, 'the retry hint (storageRetryAfterMs)');
        return true;
      });
      const retried = submit(cluster, roundId, 'oom-alice', 30);
      await sleep(2_500);
      await redis.config('SET', 'maxmemory', '0');
      const result = await retried;
      assert.ok(result.attempts > 1, `the SDK retried (${result.attempts} attempts)`);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
    }
    assertNoHugeLogLines(cluster);
  });

  it('min-replicas-to-write without a replica: UNAVAILABLE with a retry hint, retried by the SDK', async () => {
    const roundId = await newRound(cluster);
    await redis.config('SET', 'min-replicas-to-write', '1');
    try {
      await assert.rejects(submit(cluster, roundId, 'noreplicas-bob', 1), (error: unknown) => {
        assert.ok(isSecaggError(error, Code.Unavailable), `expected UNAVAILABLE, got ${String(error)}`);
        assert.match(error.message, /too few replicas/);
        assert.equal(error.retryAfterMs, 1_000);
        return true;
      });
      const retried = submit(cluster, roundId, 'noreplicas-bob', 30);
      await sleep(2_500);
      await redis.config('SET', 'min-replicas-to-write', '0');
      const result = await retried;
      assert.ok(result.attempts > 1, `the SDK retried (${result.attempts} attempts)`);
    } finally {
      await redis.config('SET', 'min-replicas-to-write', '0');
    }
    assertNoHugeLogLines(cluster);
  });
});

describe('a full disk under Redis', () => {
  (!canMountTmpfs ? it.skip : it)('appendfsync everysec: readiness NOT_SERVING with the reason, metric 0, uploads UNAVAILABLE; all recovers once space is freed', async () => {
    const disk = tinyDisk('16m');
    assert.ok(disk, 'a 16m tmpfs mounts');
    let cluster: LocalCluster | undefined;
    let redis: Redis | undefined;
    try {
      cluster = await LocalCluster.start({
        privateRedis: { configFile: SHIPPED_REDIS_CONF, dir: disk.dir, args: ['--appendfsync', 'everysec'] },
        aggregators: 1,
        allowUnsafeNoiseFreeRelease: true,
        env: { 'client-gateway': { GATEWAY_HEALTH_CHECK_INTERVAL_MS: '250' } },
      });
      const roundId = await newRound(cluster);
      // Leave about 1 MiB free, then let Redis's own AOF run into the end of the disk.
      const ballast = join(disk.dir, 'ballast');
      const free = Number(execFileSync('df', ['--output=avail', '-B1', disk.dir]).toString().trim().split('\n')[1]);
      writeFileSync(ballast, Buffer.alloc(Math.max(0, free - 1024 * 1024)));
      redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
      const refusal = await fillUntilRefused(redis, 128 * 1024);
      assert.match(refusal.message, /^MISCONF/, `Redis refused with ${refusal.message}`);

      const credentials = cluster.channelCredentials();
      const until = Date.now() + 30_000;
      while ((await probe({ address: cluster.gatewayAddress, credentials, timeoutMs: 2_000 })) !== 'NOT_SERVING') {
        assert.ok(Date.now() < until, 'the gateway kept reporting SERVING');
        await sleep(100);
      }
      assert.ok(
        cluster.logLines('client-gateway').some((line) => line.includes('readiness check fails: Redis cannot write its AOF')),
        'the reason is logged',
      );
      const metrics = await (await fetch(`http://127.0.0.1:${cluster.metricsPorts.get('client-gateway')}/metrics`)).text();
      assert.match(metrics, /^secagg_redis_persistence_ok\{[^}]*\} 0$/m);
      await assert.rejects(submit(cluster, roundId, 'disk-full-carol', 1), (error: unknown) => {
        assert.ok(isSecaggError(error, Code.Unavailable), `expected UNAVAILABLE, got ${String(error)}`);
        assert.match(error.message, /cannot persist/);
        return true;
      });

      rmSync(ballast); // space again: Redis writes its AOF, accepts writes, readiness recovers
      const back = Date.now() + 60_000;
      while ((await probe({ address: cluster.gatewayAddress, credentials, timeoutMs: 2_000 })) !== 'SERVING') {
        assert.ok(Date.now() < back, 'the gateway did not recover');
        await sleep(200);
      }
      const receipt = await submit(cluster, roundId, 'disk-full-carol', 10);
      assert.equal(receipt.receipt.roundId, roundId);
      assertNoHugeLogLines(cluster);
    } finally {
      redis?.disconnect();
      await cluster?.stop();
      disk.unmount();
    }
  });

  (!canMountTmpfs ? it.skip : it)('appendfsync always (shipped): Redis exits at each failed AOF write; the persistence watch reports the crash loop', async () => {
    const disk = tinyDisk('2m');
    assert.ok(disk, 'a 2m tmpfs mounts');
    const server = await startPrivateRedis({ configFile: SHIPPED_REDIS_CONF, dir: disk.dir });
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on('error', () => {}); // Redis exits on purpose below
    const watch = new RedisPersistenceWatch(redis, { restartsToFail: 2, restartWindowMs: 600_000 });
    try {
      assert.deepEqual(await watch.check(), { ok: true, reason: '' });
      for (let restart = 0; restart < 2; restart++) {
        await fillUntilRefused(redis, 256 * 1024);
        const exited = Date.now() + 10_000;
        while (server.process.exitCode === null && server.process.signalCode === null) {
          assert.ok(Date.now() < exited, 'Redis did not exit at the failed AOF write');
          await sleep(50);
        }
        await server.restart(); // what a supervisor (compose restart policy, kubelet) does
        await redis.ping();
        await watch.check();
      }
      const verdict = await watch.check();
      assert.equal(verdict.ok, false);
      assert.match(verdict.reason, /Redis restarted 2 times.*crash loop/);
      assert.equal(watch.restarts, 2);
    } finally {
      redis.disconnect();
      await server.stop();
      disk.unmount();
    }
  });
});
