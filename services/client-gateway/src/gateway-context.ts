/** Everything the gateway's handlers need, built once in main.ts. */
import type { Logger, ServiceClient } from '@secagg/core';
import type { KeyholderService } from '@secagg/proto';
import type { RoundStore } from '@secagg/store';
import type { CiphertextStore } from '@secagg/ciphertext-store';
import type { RoundQueues } from '@secagg/queue';
import type { TokenVerifier } from '@secagg/auth';
import type { GatewayConfig } from './config.js';
import type { UploadAdmission } from './domain/upload-admission.js';
import type { ResultStreams } from './domain/result-streams.js';

export interface GatewayContext {
  config: GatewayConfig;
  store: RoundStore;
  /** Where update ciphertexts are staged and committed (issue 11): Redis holds their names only. */
  objects: CiphertextStore;
  queues: RoundQueues;
  keyholder: ServiceClient<typeof KeyholderService>;
  tokens: TokenVerifier;
  logger: Logger;
  /** Upload limits and backpressure (stream slots, fold backlog, staged bytes). */
  uploads: UploadAdmission;
  /** Bounds on concurrent result downloads. */
  results: ResultStreams;
  /** Milliseconds since the epoch; injected so tests control time. */
  clock: () => number;
}
