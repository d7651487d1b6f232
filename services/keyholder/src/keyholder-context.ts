/** Everything the keyholder's handlers need, built once in main.ts. */
import type { KeyObject } from 'node:crypto';
import type { Logger } from '@secagg/core';
import type { Encoding } from '@secagg/proto';
import type { RoundSigner } from '@secagg/protocol';
import type { KeyholderConfig } from './config.js';
import type { KeyStore } from './domain/key-store.js';
import type { KeySealer } from './domain/sealing.js';
import type { EngineCache } from './domain/engines.js';
import type { KeyDealing } from './domain/threshold.js';

export interface KeyholderContext {
  config: KeyholderConfig;
  store: KeyStore;
  sealer: KeySealer;
  engines: EngineCache;
  /** Signs each round's statement with the keyholder's long-lived Ed25519 key. */
  signer: RoundSigner;
  logger: Logger;
  /** Milliseconds since the epoch; injected so tests control time. */
  clock: () => number;
  /**
   * t-of-n committees: every committee keyholder's verification key, by
   * index − 1 (KEYHOLDER_COMMITTEE_VERIFICATION_KEYS), and the rounds whose
   * key dealing is under way (their X25519 dealing keys and this keyholder's
   * own Shamir share live in memory only, until AcceptKeyShares).
   */
  committeeKeys?: KeyObject[];
  dealings?: Map<string, KeyDealing>;
  /** Encoding used when a round does not ask for one. */
  defaultEncoding: Encoding;
  /**
   * TEST ONLY fault injection: called after a release is durably charged and
   * before anything is returned (main.ts wires KEYHOLDER_TEST_CRASH_AFTER_CHARGE
   * to a SIGKILL of this process). Undefined in production.
   */
  afterCharge?: (roundId: string) => void;
}
