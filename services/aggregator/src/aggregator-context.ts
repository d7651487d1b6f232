/** Everything the aggregator's jobs need, built once in main.ts. */
import type { Logger, ServiceClient } from '@secagg/core';
import type { KeyholderService } from '@secagg/proto';
import type { RoundStore } from '@secagg/store';
import type { RoundQueues } from '@secagg/queue';
import type { AggregatorConfig } from './config.js';

export interface AggregatorContext {
  config: AggregatorConfig;
  store: RoundStore;
  queues: RoundQueues;
  keyholder: ServiceClient<typeof KeyholderService>;
  logger: Logger;
  clock: () => number;
}
