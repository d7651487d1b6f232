/** Everything the aggregator's jobs need, built once in main.ts. */
import type { Logger, ServiceClient } from '@secagg/core';
import type { KeyholderService } from '@secagg/proto';
import type { RangeProgress, RoundStore } from '@secagg/store';
import type { CiphertextStore } from '@secagg/ciphertext-store';
import type { RoundQueues } from '@secagg/queue';
import type { AggregatorConfig } from './config.js';

export interface AggregatorContext {
  config: AggregatorConfig;
  store: RoundStore;
  /** Range ownership and checkpoints of the folds (Redis). */
  progress: RangeProgress;
  /** Update and checkpoint bytes (shared volume or object store). */
  objects: CiphertextStore;
  queues: RoundQueues;
  keyholder: ServiceClient<typeof KeyholderService>;
  logger: Logger;
  clock: () => number;
}
