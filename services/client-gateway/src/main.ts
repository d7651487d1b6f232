/** Gateway composition root: config, Redis, queues, keyholder client, token verifier, server. */
import { readFileSync } from 'node:fs';
import {
  bindServer,
  channelCredentials,
  createClient,
  createLogger,
  handleSignals,
  logListening,
  redactConfig,
  serverCredentials,
  shutdownServer,
} from '@secagg/core';
import { KeyholderService } from '@secagg/proto';
import { RoundStore } from '@secagg/store';
import { RoundQueues, createRedis, queuePrefix } from '@secagg/queue';
import { TokenVerifier } from '@secagg/auth';
import { loadGatewayConfig } from './config.js';
import { createGatewayServer } from './server.js';
import { UploadAdmission } from './domain/upload-admission.js';

const config = loadGatewayConfig();
const logger = createLogger('client-gateway', config.logLevel);
logger.info({ config: redactConfig(config) }, 'starting');

const redis = createRedis(config.redisUrl, { name: 'gateway' });
redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
const queueRedis = createRedis(config.redisUrl, { name: 'gateway-queue' });
queueRedis.on('error', (error) => logger.warn({ err: error }, 'redis error (queues)'));
const store = new RoundStore(redis, config.keyPrefix);
const queues = new RoundQueues(queueRedis, queuePrefix(config.keyPrefix));
const tokens = await TokenVerifier.fromPem(
  config.tokenPublicKey ?? readFileSync(config.tokenPublicKeyFile!, 'utf8'),
  config.tokenClockToleranceSeconds,
);
const keyholder = createClient(KeyholderService, config.keyholderAddress, {
  credentials: channelCredentials(
    { tlsCaFile: config.keyholderCaFile, tlsCertFile: config.tlsCertFile, tlsKeyFile: config.tlsKeyFile, allowInsecure: config.allowInsecure },
    logger,
  ),
});
const uploads = UploadAdmission.fromConfig(config, { redis, queues, clock: Date.now, logger });
const server = createGatewayServer({ config, store, queues, keyholder, tokens, logger, uploads, clock: Date.now });
const port = await bindServer(server, config.listenAddress, serverCredentials(config, logger));
logListening(logger, 'client-gateway', port);

handleSignals(logger, async () => {
  // Drain: refuse new and waiting uploads (UNAVAILABLE + retry hint), let admitted ones finish within the grace.
  uploads.drain();
  await shutdownServer(server, config.shutdownGraceMs);
  await uploads.whenIdle(1_000); // cancelled uploads discard their staging while Redis is still connected
  keyholder.close();
  await queues.close();
  redis.disconnect();
  queueRedis.disconnect();
});
