/** Keyholder composition root: config, store, KEK, engines, server. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeSync } from 'node:fs';
import { bindServer, createLogger, handleSignals, logListening, redactConfig, serverCredentials, shutdownServer } from '@secagg/core';
import { fromBinary } from '@bufbuild/protobuf';
import { Encoding, KeyholderService, RoundConfigSchema } from '@secagg/proto';
import { DEFAULT_PRESET } from '@secagg/ckks';
import { RoundSigner, verificationKeyId } from '@secagg/protocol';
import { HealthMonitor, ServiceMetrics } from '@secagg/observability';
import { registerKeyholderMetrics } from './domain/keyholder-metrics.js';
import { loadKeyholderConfig } from './config.js';
import { KeyStore } from './domain/key-store.js';
import { KeySealer } from './domain/sealing.js';
import { EngineCache } from './domain/engines.js';
import { releaseSpoolDir, removeStaleSpools } from './domain/release-spool.js';
import { createKeyholderServer } from './server.js';
import { dropStaleDealings, type KeyDealing } from './domain/threshold.js';

const config = loadKeyholderConfig();
const logger = createLogger('keyholder', config.logLevel);
logger.info({ config: redactConfig(config) }, 'starting');
if (config.allowUnsafeNoiseFreeRelease) logger.warn('UNSAFE: noise-free releases are allowed (test-only setting)');
if (config.testCrashAfterCharge) {
  logger.warn('TEST-ONLY FAULT INJECTION: this keyholder kills itself (SIGKILL) after charging every new release, before decrypting it');
}
if (config.minFloodingMarginBits < 40) {
  logger.warn({ minFloodingMarginBits: config.minFloodingMarginBits }, 'flooding margin minimum below the 40-bit default: releases may leak more about round secret keys');
}

const previousKeks = (config.previousKekFiles ?? '').split(',').filter(Boolean).map((file) => readFileSync(file.trim(), 'utf8'));
const sealer = KeySealer.fromBase64(config.kek ?? readFileSync(config.kekFile!, 'utf8'), previousKeks);
const signer = loadRoundSigner();

/** t-of-n committees: every keyholder's verification key, committee order (config.ts requires them). */
function loadCommitteeKeys(settings: typeof config): KeyObject[] | undefined {
  const text = settings.committeeVerificationKeys ?? (settings.committeeVerificationKeysFile ? readFileSync(settings.committeeVerificationKeysFile, 'utf8') : undefined);
  if (text === undefined) return undefined;
  const keys = (text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []).map((pem) => createPublicKey(pem));
  if (keys.length !== settings.committeeSize || keys.some((k) => k.asymmetricKeyType !== 'ed25519')) {
    throw new Error(`invalid configuration: KEYHOLDER_COMMITTEE_VERIFICATION_KEYS must hold ${settings.committeeSize} Ed25519 public keys, keyholder 1 first`);
  }
  if (verificationKeyId(keys[settings.committeeIndex! - 1]!) !== signer.keyId) {
    throw new Error(`invalid configuration: verification key ${settings.committeeIndex} of KEYHOLDER_COMMITTEE_VERIFICATION_KEYS is not this keyholder's own`);
  }
  return keys;
}
const store = new KeyStore(config.dataDir);
const resealed = store.resealSecretKeys(
  (sealed) => sealer.needsReseal(sealed),
  (roundId, sealed) => {
    const secretKey = sealer.unseal(sealed, roundId);
    try {
      return sealer.seal(secretKey, roundId);
    } finally {
      secretKey.fill(0);
    }
  },
);
logger.info({ kekId: sealer.currentKekId, previousKeks: previousKeks.length, resealed }, 'key-encryption key ready');
// No release is in progress yet: any spool file is a crashed release's leftover (its round was wasted or retried).
const spoolDir = releaseSpoolDir(config);
const staleSpools = removeStaleSpools(spoolDir);
if (staleSpools > 0) logger.warn({ spoolDir, removed: staleSpools }, 'removed spool files left by an interrupted release');
// Keys of rounds that can no longer be released are destroyed, at start and then periodically.
const dealings = new Map<string, KeyDealing>();
const expireKeys = (): void => {
  const expired = store.expireKeys(Date.now(), config.keyRetentionAfterDeadlineMs, (bytes) => Number(fromBinary(RoundConfigSchema, bytes).deadlineUnixMs));
  if (expired.length > 0) logger.info({ rounds: expired, retentionMs: config.keyRetentionAfterDeadlineMs }, 'destroyed the keys of rounds past their deadline and retention');
  const abandoned = dropStaleDealings(dealings, Date.now(), config.keyDealingTimeoutMs);
  if (abandoned.length > 0) logger.warn({ rounds: abandoned, timeoutMs: config.keyDealingTimeoutMs }, 'dropped unfinished key dealings');
};
expireKeys();
const expiryTimer = setInterval(() => {
  try {
    expireKeys();
  } catch (error) {
    logger.error({ err: error }, 'key expiry sweep failed; retrying at the next interval');
  }
}, config.keyExpirySweepIntervalMs);
expiryTimer.unref();
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
  committeeKeys: loadCommitteeKeys(config),
  dealings,
  // Coefficient encoding: N values per ciphertext, half the bytes per value of slots (16.03 vs 32.06 B).
  defaultEncoding: Encoding.COEFFICIENTS,
  afterCharge: config.testCrashAfterCharge
    ? (roundId) => {
        // Written synchronously: pino writes asynchronously, and a SIGKILL right after would lose the line.
        writeSync(
          1,
          `${JSON.stringify({ level: 60, time: Date.now(), service: 'keyholder', roundId, msg: 'TEST-ONLY FAULT INJECTION: crashing after the ledger charge, before the decryption' })}\n`,
        );
        process.kill(process.pid, 'SIGKILL');
      }
    : undefined,
}, { health, onCallEnd: metrics.onCallEnd });
await health.start();
// Empty address: no metrics listener. HTTPS when a metrics certificate is configured (the metrics show per-group epsilon).
const metricsTls =
  config.metricsTlsCertFile && config.metricsTlsKeyFile
    ? { cert: readFileSync(config.metricsTlsCertFile), key: readFileSync(config.metricsTlsKeyFile) }
    : undefined;
const metricsServer = config.metricsListenAddress ? await metrics.listen(config.metricsListenAddress, metricsTls) : undefined;
if (metricsServer) logger.info({ event: 'metrics', port: metricsServer.port }, `metrics on port ${metricsServer.port}`);
const port = await bindServer(server, config.listenAddress, serverCredentials(config, logger));
logListening(logger, 'keyholder', port);

/**
 * The round-statement signing key. Clients pin its public key, so it must be
 * long-lived: a development keyholder without one gets an ephemeral key whose
 * public half is logged (it changes at every start).
 */
function loadRoundSigner(): RoundSigner {
  const pem = config.signingKey ?? (config.signingKeyFile ? readFileSync(config.signingKeyFile, 'utf8') : undefined);
  if (pem !== undefined) {
    const loaded = RoundSigner.fromPem(pem);
    logger.info({ signingKeyId: loaded.keyId }, 'round signing key ready');
    return loaded;
  }
  const ephemeral = RoundSigner.generate();
  logger.warn(
    { signingKeyId: ephemeral.keyId, verificationKeyPem: ephemeral.verificationKeyPem },
    'DEVELOPMENT ONLY: no KEYHOLDER_SIGNING_KEY_FILE; rounds are signed with an ephemeral key that changes at every start',
  );
  return ephemeral;
}

handleSignals(logger, async () => {
  health.drain();
  clearInterval(expiryTimer);
  await shutdownServer(server, config.shutdownGraceMs);
  health.stop();
  metricsServer?.server.close();
  await engines.dispose();
  store.close();
});
