/** Keyholder composition root: config, store, KEK, engines, server. */
import { readFileSync } from 'node:fs';
import { bindServer, createLogger, handleSignals, logListening, redactConfig, serverCredentials, shutdownServer } from '@secagg/core';
import { Encoding } from '@secagg/proto';
import { loadKeyholderConfig } from './config.js';
import { KeyStore } from './domain/key-store.js';
import { KeySealer } from './domain/sealing.js';
import { EngineCache } from './domain/engines.js';
import { createKeyholderServer } from './server.js';

const config = loadKeyholderConfig();
const logger = createLogger('keyholder', config.logLevel);
logger.info({ config: redactConfig(config) }, 'starting');
if (config.allowUnsafeNoiseFreeRelease) logger.warn('UNSAFE: noise-free releases are allowed (test-only setting)');

const sealer = KeySealer.fromBase64(config.kek ?? readFileSync(config.kekFile!, 'utf8'));
const store = new KeyStore(config.dataDir);
const engines = new EngineCache();
const server = createKeyholderServer({
  config,
  store,
  sealer,
  engines,
  logger,
  clock: Date.now,
  // Coefficient encoding: N values per ciphertext, half the bytes per value of slots (16.03 vs 32.06 B).
  defaultEncoding: Encoding.COEFFICIENTS,
});
const port = await bindServer(server, config.listenAddress, serverCredentials(config, logger));
logListening(logger, 'keyholder', port);

handleSignals(logger, async () => {
  await shutdownServer(server, config.shutdownGraceMs);
  await engines.dispose();
  store.close();
});
