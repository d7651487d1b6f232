/** Aggregator composition root: Redis, queues, keyholder client, workers. */
import * as grpc from '@grpc/grpc-js';
import { bindServer, channelCredentials, handleSignals, serverCredentials, shutdownServer, startService } from '@secagg/core';
import { HealthMonitor, ServiceMetrics, probe } from '@secagg/observability';
import { AggregatorMetrics } from './aggregator-metrics.js';
import { connectKeyholders, keyholderTopology } from '@secagg/protocol';
import { RangeProgress, RedisPersistenceWatch, RoundStore } from '@secagg/store';
import { openCiphertextStore } from '@secagg/ciphertext-store';
import { randomUUID } from 'node:crypto';
import { LIFECYCLE_QUEUE, RoundQueues, createRedis, createWorker, queuePrefix, type LifecycleJob } from '@secagg/queue';
import { loadAggregatorConfig } from './config.js';
import { RangeWorker } from './jobs/range-worker.js';
import { runLifecycleJob } from './jobs/round-lifecycle.js';
import { drainWorkers } from './jobs/drain-workers.js';
import { startSweeper } from './jobs/sweeper.js';
import type { AggregatorContext } from './aggregator-context.js';

const { config, logger } = startService('aggregator', loadAggregatorConfig);

const redis = createRedis(config.redisUrl, { forWorker: true, name: 'aggregator' });
redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
const prefix = queuePrefix(config.keyPrefix);
const keyholderCredentials = channelCredentials(
  { tlsCaFile: config.keyholderCaFile, tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, allowInsecure: config.allowInsecure },
  logger,
);
const keyholders = keyholderTopology(config);
const deps: AggregatorContext = {
  config,
  store: new RoundStore(redis, config.keyPrefix),
  progress: new RangeProgress(redis, config.keyPrefix),
  objects: await openCiphertextStore(config.ciphertextStore),
  queues: new RoundQueues(redis, prefix),
  keyholder: connectKeyholders(config, {
    credentials: keyholderCredentials,
    channelOptions: { 'grpc.max_send_message_length': 8 * 1024 * 1024, 'grpc.max_receive_message_length': 8 * 1024 * 1024 },
  }),
  logger,
  clock: Date.now,
};

if (config.testFoldDelayMs > 0) {
  logger.warn({ testFoldDelayMs: config.testFoldDelayMs }, 'TEST ONLY: every fold is slowed down on purpose (AGGREGATOR_TEST_FOLD_DELAY_MS)');
}

const workerSettings = {
  prefix,
  logger,
  lockDurationMs: config.lockDurationMs,
  stalledIntervalMs: config.stalledCheckIntervalMs,
  retry: { initialDelayMs: config.jobRetryInitialDelayMs, maxDelayMs: config.jobRetryMaxDelayMs },
};
const metrics = new ServiceMetrics('aggregator');
const persistence = new RedisPersistenceWatch(redis, { restartsToFail: config.redisRestartsToFail, restartWindowMs: config.redisRestartWindowMs });
const measured = new AggregatorMetrics(metrics, deps.queues, persistence);
// Folds: this process's share of the live rounds' ranges (jobs/range-worker.ts). A fresh owner id per
// incarnation, so a restarted process never writes under a lease its previous life held.
const ranges = new RangeWorker(
  { store: deps.store, progress: deps.progress, objects: deps.objects, logger, onFold: (outcome) => measured.folds.inc({ outcome }) },
  { ...config, ownerId: `aggregator-${randomUUID()}` },
);
ranges.start();
const lifecycleWorker = createWorker<LifecycleJob>(
  LIFECYCLE_QUEUE,
  (job, token) =>
    measured.measure(
      (result) => measured.lifecycle.inc({ kind: job.data.kind, result }),
      () => measured.lifecycleSeconds.startTimer({ kind: job.data.kind }),
      () => runLifecycleJob(job, token, deps),
    ),
  createRedis(config.redisUrl, { forWorker: true }),
  { ...workerSettings, concurrency: config.lifecycleConcurrency },
);
await lifecycleWorker.waitUntilReady();

// The sweeper: no round waits on a job a crash dropped (jobs/sweeper.ts).
const sweeper = startSweeper(deps, config.sweepIntervalMs, measured);

// Health: the aggregator serves only grpc.health.v1 (and reflection of it), over TLS with its own certificate.
const health = new HealthMonitor({
  services: ['secagg.aggregator'],
  checks: {
    redis: async () => (await redis.ping()) === 'PONG',
    'redis-persistence': () => persistence.check(),
    // A committee release needs its threshold of keyholders.
    keyholder: async () =>
      (await Promise.all(keyholders.addresses.map((address) => probe({ address, credentials: keyholderCredentials, timeoutMs: 2_000 })))).filter(
        (status) => status === 'SERVING',
      ).length >= (keyholders.committee?.threshold ?? 1),
    workers: async () => ranges.isRunning() && lifecycleWorker.isRunning(),
  },
  intervalMs: config.healthCheckIntervalMs,
  checkTimeoutMs: 2_500,
  logger,
});
const healthServer = new grpc.Server();
health.addToServer(healthServer);
await health.start();
const healthPort = await bindServer(
  healthServer,
  config.healthListenAddress,
  serverCredentials({ tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, allowInsecure: config.allowInsecure }, logger),
);
const metricsServer = await metrics.listenIfConfigured(config.metricsListenAddress, logger);
logger.info({ event: 'ready', service: 'aggregator', port: healthPort }, `aggregator ready; health on port ${healthPort}`);

handleSignals(logger, async () => {
  health.drain();
  await sweeper.stop();
  // Hand held ranges back (checkpointed, leases released), then drain the lifecycle jobs (jobs/drain-workers.ts).
  await ranges.stop();
  await drainWorkers([lifecycleWorker], config.shutdownGraceMs, logger);
  health.stop();
  await shutdownServer(healthServer, 1_000);
  metricsServer?.close();
  deps.keyholder.close();
  await deps.queues.close();
  redis.disconnect();
});
