/** Aggregator composition root: Redis, queues, keyholder client, workers. */
import { channelCredentials, createClient, createLogger, handleSignals, redactConfig } from '@secagg/core';
import { KeyholderService } from '@secagg/proto';
import { RoundStore } from '@secagg/store';
import { FOLD_QUEUE, LIFECYCLE_QUEUE, RoundQueues, createRedis, createWorker, type FoldJob, type LifecycleJob } from '@secagg/queue';
import { loadAggregatorConfig } from './config.js';
import { foldUpdate } from './jobs/fold-update.js';
import { runLifecycleJob } from './jobs/round-lifecycle.js';
import type { AggregatorContext } from './aggregator-context.js';

const config = loadAggregatorConfig();
const logger = createLogger('aggregator', config.logLevel);
logger.info({ config: redactConfig(config) }, 'starting');

const redis = createRedis(config.redisUrl, { forWorker: true, name: 'aggregator' });
redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
const prefix = `${config.keyPrefix}:q`;
const deps: AggregatorContext = {
  config,
  store: new RoundStore(redis, config.keyPrefix),
  queues: new RoundQueues(redis, prefix),
  keyholder: createClient(KeyholderService, config.keyholderAddress, {
    credentials: channelCredentials(
      { tlsCaFile: config.keyholderCaFile, tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, allowInsecure: config.allowInsecure },
      logger,
    ),
    channelOptions: { 'grpc.max_send_message_length': 8 * 1024 * 1024, 'grpc.max_receive_message_length': 8 * 1024 * 1024 },
  }),
  logger,
  clock: Date.now,
};

const foldWorker = createWorker<FoldJob>(FOLD_QUEUE, (job) => foldUpdate(job, deps), createRedis(config.redisUrl, { forWorker: true }), {
  prefix,
  concurrency: config.foldConcurrency,
  logger,
  lockDurationMs: config.lockDurationMs,
});
const lifecycleWorker = createWorker<LifecycleJob>(
  LIFECYCLE_QUEUE,
  (job, token) => runLifecycleJob(job, token, deps),
  createRedis(config.redisUrl, { forWorker: true }),
  { prefix, concurrency: config.lifecycleConcurrency, logger, lockDurationMs: config.lockDurationMs },
);
await Promise.all([foldWorker.waitUntilReady(), lifecycleWorker.waitUntilReady()]);
logger.info({ event: 'ready', service: 'aggregator' }, 'aggregator ready');

handleSignals(logger, async () => {
  // Stop taking jobs and let running ones finish; unfinished ones are handed back via their lock.
  await Promise.all([foldWorker.close(), lifecycleWorker.close()]);
  deps.keyholder.close();
  await deps.queues.close();
  redis.disconnect();
});
