/** Gateway composition root: config, Redis, queues, keyholder client, token verifier, server. */
import { readFileSync } from 'node:fs';
import { channelCredentials, handleSignals, logListening, serverCredentials, shutdownServer, startService } from '@secagg/core';
import { ClientService, CoordinatorService } from '@secagg/proto';
import { connectKeyholders, keyholderTopology } from '@secagg/protocol';
import { HealthMonitor, ServiceMetrics, probe, registerRedisPersistenceMetrics } from '@secagg/observability';
import { registerGatewayMetrics } from './domain/gateway-metrics.js';
import { RedisPersistenceWatch, RoundStore, StagingBudget } from '@secagg/store';
import { openCiphertextStore } from '@secagg/ciphertext-store';
import { RoundQueues, createRedis, queuePrefix } from '@secagg/queue';
import { TokenVerifier } from '@secagg/auth';
import { loadGatewayConfig } from './config.js';
import { createGatewayServer } from './server.js';
import { UploadAdmission } from './domain/upload-admission.js';
import { listenWithConnectionLimit } from './domain/connection-limit.js';
import { ResultStreams } from './domain/result-streams.js';

const { config, logger } = startService('client-gateway', loadGatewayConfig);
if (config.testKillAfterClosingCommit) logger.warn('TEST ONLY: this gateway kills itself after a commit that closes its round (GATEWAY_TEST_KILL_AFTER_CLOSING_COMMIT)');

const redis = createRedis(config.redisUrl, { name: 'gateway' });
redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
const queueRedis = createRedis(config.redisUrl, { name: 'gateway-queue' });
queueRedis.on('error', (error) => logger.warn({ err: error }, 'redis error (queues)'));
const store = new RoundStore(redis, config.keyPrefix);
const queues = new RoundQueues(queueRedis, queuePrefix(config.keyPrefix));
const tokens = await TokenVerifier.fromPem(
  config.tokenPublicKey ?? readFileSync(config.tokenPublicKeyFile!, 'utf8'),
  { clockToleranceSeconds: config.tokenClockToleranceSeconds, maxLifetimeSeconds: config.tokenMaxLifetimeSeconds },
);
const keyholderCredentials = channelCredentials(
  { tlsCaFile: config.keyholderCaFile, tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, allowInsecure: config.allowInsecure },
  logger,
);
const keyholders = keyholderTopology(config);
const keyholder = connectKeyholders(config, { credentials: keyholderCredentials });
const uploads = UploadAdmission.fromConfig(config, { store, budget: new StagingBudget(redis, config.keyPrefix), clock: Date.now, logger });
// Update ciphertexts: staged and committed here, read by the aggregators' range folds (shared volume or object store).
const objects = await openCiphertextStore(config.ciphertextStore);
const metrics = new ServiceMetrics('client-gateway');
registerGatewayMetrics(metrics, { store, queues, uploads, roundsScanned: config.metricsRoundsScanned });
const persistence = new RedisPersistenceWatch(redis, { restartsToFail: config.redisRestartsToFail, restartWindowMs: config.redisRestartWindowMs });
registerRedisPersistenceMetrics(metrics, persistence);
const health = new HealthMonitor({
  services: [ClientService.typeName, CoordinatorService.typeName],
  checks: {
    redis: async () => (await redis.ping()) === 'PONG',
    'redis-persistence': () => persistence.check(),
    // A round's key needs every keyholder of a committee.
    keyholder: async () =>
      (await Promise.all(keyholders.addresses.map((address) => probe({ address, credentials: keyholderCredentials, timeoutMs: 2_000 })))).every(
        (status) => status === 'SERVING',
      ),
  },
  intervalMs: config.healthCheckIntervalMs,
  checkTimeoutMs: 2_500,
  logger,
});
const server = createGatewayServer(
  { config, store, objects, queues, keyholder, tokens, logger, uploads, results: new ResultStreams(config), clock: Date.now },
  { health, onCallEnd: metrics.onCallEnd },
);
await health.start();
const metricsServer = await metrics.listenIfConfigured(config.metricsListenAddress, logger);
// Our own listener (grpc-js has no connection limit): at most maxConnections clients at once.
const listener = await listenWithConnectionLimit(
  server,
  {
    address: config.listenAddress,
    credentials: serverCredentials(config, logger),
    maxConnections: config.maxConnections,
    receiveWindowBytes: config.http2ReceiveWindowBytes,
  },
  logger,
);
// Not applied (a grpc-js upgrade moved the shim's fields): uploads still work, at grpc-js's default window's pace.
if (listener.receiveWindow.applied) logger.info({ event: 'http2-window', bytes: config.http2ReceiveWindowBytes, applied: true }, listener.receiveWindow.how);
else logger.warn({ event: 'http2-window', bytes: config.http2ReceiveWindowBytes, applied: false }, listener.receiveWindow.how);
logListening(logger, 'client-gateway', listener.port);

handleSignals(logger, async () => {
  // Drain: refuse new and waiting uploads at once (UNAVAILABLE + retry hint); admitted ones finish within the grace.
  uploads.drain();
  // Announce NOT_SERVING while the listener still answers probes, so load balancers notice before it closes.
  health.drain();
  await new Promise((resolve) => setTimeout(resolve, config.shutdownAnnounceMs));
  health.stop();
  metricsServer?.close();
  listener.stopAccepting();
  await shutdownServer(server, config.shutdownGraceMs);
  await uploads.whenIdle(1_000); // cancelled uploads discard their staging while Redis is still connected
  keyholder.close();
  await queues.close();
  redis.disconnect();
  queueRedis.disconnect();
});
