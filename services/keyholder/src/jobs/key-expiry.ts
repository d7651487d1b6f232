/**
 * Key expiry: the keys of rounds that can no longer be released are
 * destroyed, and key dealings a committee never finished are dropped, once at
 * start and then every `keyExpirySweepIntervalMs`. A failed sweep is logged
 * and retried at the next interval; nothing else depends on its timing.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { Logger } from '@secagg/core';
import { RoundConfigSchema } from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import type { KeyStore } from '../domain/key-store.js';
import { dropStaleDealings, type KeyDealing } from '../domain/threshold.js';

type ExpiryConfig = Pick<KeyholderConfig, 'keyRetentionAfterDeadlineMs' | 'keyDealingTimeoutMs' | 'keyExpirySweepIntervalMs'>;

/** One sweep: expired round keys destroyed, stale dealings dropped, each logged. */
export function expireKeys(store: KeyStore, dealings: Map<string, KeyDealing>, config: ExpiryConfig, logger: Logger, now = Date.now()): void {
  const expired = store.expireKeys(now, config.keyRetentionAfterDeadlineMs, (bytes) => Number(fromBinary(RoundConfigSchema, bytes).deadlineUnixMs));
  if (expired.length > 0) logger.info({ rounds: expired, retentionMs: config.keyRetentionAfterDeadlineMs }, 'destroyed the keys of rounds past their deadline and retention');
  const abandoned = dropStaleDealings(dealings, now, config.keyDealingTimeoutMs);
  if (abandoned.length > 0) logger.warn({ rounds: abandoned, timeoutMs: config.keyDealingTimeoutMs }, 'dropped unfinished key dealings');
}

/** Sweeps now (a failure here stops the start), then periodically; `stop` ends the timer. */
export function startKeyExpiry(store: KeyStore, dealings: Map<string, KeyDealing>, config: ExpiryConfig, logger: Logger): { stop(): void } {
  expireKeys(store, dealings, config, logger);
  const timer = setInterval(() => {
    try {
      expireKeys(store, dealings, config, logger);
    } catch (error) {
      logger.error({ err: error }, 'key expiry sweep failed; retrying at the next interval');
    }
  }, config.keyExpirySweepIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
