/** Keyholder composition root: config, store, KEK, engines, server. */
import { readFileSync } from 'node:fs';
import { bindServer, handleSignals, logListening, serverCredentials, shutdownServer, startService } from '@secagg/core';
import { Encoding, KeyholderService } from '@secagg/proto';
import { DEFAULT_PRESET } from '@secagg/ckks';
import { HealthMonitor, ServiceMetrics } from '@secagg/observability';
import { registerKeyholderMetrics } from './domain/keyholder-metrics.js';
import { loadKeyholderConfig } from './config.js';
import { KeyStore } from './domain/key-store.js';
import { EngineCache } from './domain/engines.js';
import { releaseSpoolDir, removeStaleSpools } from './domain/release-spool.js';
import type { KeyDealing } from './domain/threshold.js';
import { crashAfterCharge } from './fault-injection.js';
import { startKeyExpiry } from './jobs/key-expiry.js';
import { loadCommitteeKeys, loadKeySealer, loadRoundSigner, resealUnderCurrentKek } from './key-material.js';
import { createKeyholderServer } from './server.js';

const { config, logger } = startService('keyholder', loadKeyholderConfig);
if (config.allowUnsafeNoiseFreeRelease) logger.warn('UNSAFE: noise-free releases are allowed (test-only setting)');
if (config.testCrashAfterCharge) {
  logger.warn('TEST-ONLY FAULT INJECTION: this keyholder kills itself (SIGKILL) after charging every new release, before decrypting it');
}
if (config.minFloodingMarginBits < 40) {
  logger.warn({ minFloodingMarginBits: config.minFloodingMarginBits }, 'flooding margin minimum below the 40-bit default: releases may leak more about round secret keys');
}

const { sealer, previousKeks } = loadKeySealer(config);
const signer = loadRoundSigner(config, logger);
const store = new KeyStore(config.dataDir);
const resealed = resealUnderCurrentKek(store, sealer);
logger.info({ kekId: sealer.currentKekId, previousKeks, resealed }, 'key-encryption key ready');
// No release is in progress yet: any spool file is a crashed release's leftover (its round was wasted or retried).
const spoolDir = releaseSpoolDir(config);
const staleSpools = removeStaleSpools(spoolDir);
if (staleSpools > 0) logger.warn({ spoolDir, removed: staleSpools }, 'removed spool files left by an interrupted release');
const dealings = new Map<string, KeyDealing>();
const keyExpiry = startKeyExpiry(store, dealings, config, logger);
const engines = new EngineCache();
// SEAL must load here before the keyholder reports ready (WASM compile, default context).
const sealReady = engines
  .get({ preset: DEFAULT_PRESET, encoding: 'coefficients', scaleBits: 40 })
  .then(() => true, (error: unknown) => {
    logger.error({ err: error }, 'SEAL failed to load');
    return false;
  });
const metrics = new ServiceMetrics('keyholder');
registerKeyholderMetrics(metrics, store, config);
const health = new HealthMonitor({
  services: [KeyholderService.typeName],
  checks: { seal: () => sealReady, store: async () => store.ping() },
  intervalMs: config.healthCheckIntervalMs,
  checkTimeoutMs: 2_000,
  logger,
});
const server = createKeyholderServer({
  config,
  store,
  sealer,
  engines,
  signer,
  logger,
  clock: Date.now,
  committeeKeys: loadCommitteeKeys(config, signer),
  dealings,
  // Coefficient encoding: N values per ciphertext, half the bytes per value of slots (16.03 vs 32.06 B).
  defaultEncoding: Encoding.COEFFICIENTS,
  afterCharge: config.testCrashAfterCharge ? crashAfterCharge : undefined,
}, { health, onCallEnd: metrics.onCallEnd });
await health.start();
// HTTPS when a metrics certificate is configured (the metrics show per-group epsilon).
const metricsTls =
  config.metricsTlsCertFile && config.metricsTlsKeyFile
    ? { cert: readFileSync(config.metricsTlsCertFile), key: readFileSync(config.metricsTlsKeyFile) }
    : undefined;
const metricsServer = await metrics.listenIfConfigured(config.metricsListenAddress, logger, metricsTls);
const port = await bindServer(server, config.listenAddress, serverCredentials(config, logger));
logListening(logger, 'keyholder', port);

handleSignals(logger, async () => {
  health.drain();
  keyExpiry.stop();
  await shutdownServer(server, config.shutdownGraceMs);
  health.stop();
  metricsServer?.close();
  await engines.dispose();
  store.close();
});
