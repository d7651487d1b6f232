/** Everything the keyholder's handlers need, built once in main.ts. */
import type { Logger } from '@secagg/core';
import type { Encoding } from '@secagg/proto';
import type { KeyholderConfig } from './config.js';
import type { KeyStore } from './domain/key-store.js';
import type { KeySealer } from './domain/sealing.js';
import type { EngineCache } from './domain/engines.js';

export interface KeyholderContext {
  config: KeyholderConfig;
  store: KeyStore;
  sealer: KeySealer;
  engines: EngineCache;
  logger: Logger;
  /** Milliseconds since the epoch; injected so tests control time. */
  clock: () => number;
  /** Encoding used when a round does not ask for one. */
  defaultEncoding: Encoding;
}
