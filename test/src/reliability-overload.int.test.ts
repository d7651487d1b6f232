/**
 * Bounded memory under overload, at CI scale: ten times more concurrent
 * uploads than the gateway admits, against an aggregator slowed on purpose.
 * Every client finishes or is told to retry (RESOURCE_EXHAUSTED with a
 * retry hint, then retries with the same update id); the staged bytes, the
 * unfolded backlog, Redis's used_memory_peak and every process's peak RSS
 * stay within the bounds that follow from the configured limits; the round
 * still releases each update exactly once. `npm run overload` is the
 * full-size run (200 streams). Client connections are bounded too.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, isSecaggError } from '@secagg/core';
import { LocalCluster } from '@secagg/local-cluster';
import { SecaggClient } from '@secagg/sdk';
import { randomSeed, runOverload } from '@secagg/chaos';

describe('overload: backpressure and bounded memory', () => {
  it('40 concurrent uploads against 4 slots and a slow aggregator: every bound holds, every client finishes', async () => {
    const seed = randomSeed();
    console.log(`overload seed ${seed}`);
    // Updates of 8 ciphertexts (525 KB): 40 of them at once would be 21 MB in Redis, far above the bound.
    const maxStagedBytes = 2 * 8 * 65_649; // two updates: binds before the stream slots do
    const report = await runOverload({
      clients: 40,
      length: 8 * 4_096,
      seed,
      foldDelayMs: 100,
      aggregators: 1,
      gateway: {
        maxConnections: 64,
        maxConcurrentStreams: 4,
        maxWaitingStreams: 4,
        maxStreamsPerClient: 1,
        maxFoldBacklog: 4,
        maxStagedBytes,
        admissionWaitMs: 500,
        overloadRetryAfterMs: 300,
      },
      aggregator: { maxRangesHeld: 4, ciphertextsPerRange: 64, readBlockBytes: 1024 * 1024 },
      log: (line) => console.log(`[overload ${seed}] ${line}`),
    });
    console.log(JSON.stringify({ ...report, processes: report.processes.map((p) => ({ ...p })) }));
    assert.ok(report.ok, report.problems.join('; '));
    assert.equal(report.acknowledged + report.unfinished.length, 40);
    assert.ok(report.clientsToldToRetry > 0, 'the limits were reached: some clients were told to retry');
    assert.ok(report.observed.maxStagedBytes > 0 && report.observed.maxStagedBytes <= maxStagedBytes);
    assert.ok(report.observed.maxUnfoldedUpdates <= report.bounds.unfoldedUpdates);
    assert.ok(report.redis.usedMemoryPeak <= report.redis.boundBytes);
    for (const p of report.processes) if (p.boundBytes !== undefined) assert.ok(p.peakRssBytes <= p.boundBytes, `${p.name}: ${p.peakRssBytes} > ${p.boundBytes}`);
    assert.ok(report.released && report.maxAbsError !== null && report.maxAbsError <= 1e-4);
  });
});

describe('the gateway bounds its client connections', () => {
  it('drops connections beyond maxConnections at accept, and serves again once one closes', async () => {
    const cluster = await LocalCluster.start({
      aggregators: 1,
      env: { 'client-gateway': { GATEWAY_MAX_CONNECTIONS: '3' } },
    });
    const held: Socket[] = [];
    try {
      const [host, port] = [cluster.gatewayAddress.split(':')[0]!, Number(cluster.gatewayAddress.split(':')[1])];
      const open = () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, host, () => resolve(socket));
          socket.once('error', reject);
        });
      for (let i = 0; i < 3; i++) held.push(await open());
      await sleep(200);
      const extra = await open();
      const dropped = await Promise.race([once(extra, 'close').then(() => true), sleep(3_000).then(() => false)]);
      assert.ok(dropped, 'the fourth connection is closed by the gateway');
      const sdk = (subject: string) =>
        cluster.token('coordinator', subject).then(
          (token) => new SecaggClient({ address: cluster.gatewayAddress, token, caFile: cluster.certificates?.caFile, maxAttempts: 1, encryptionThreads: 0 }),
        );
      const refused = await sdk('coord-refused');
      await assert.rejects(refused.listRounds(), (e: unknown) => isSecaggError(e, Code.Unavailable));
      refused.close();
      held.pop()!.destroy();
      await sleep(300);
      const served = await sdk('coord-served');
      assert.ok(Array.isArray(await served.listRounds()), 'a connection slot freed: served again');
      served.close();
      assert.ok(cluster.isRunning('client-gateway'));
    } finally {
      for (const socket of held) socket.destroy();
      await cluster.stop();
    }
  }, 120_000);
});
