/**
 * The one place that builds BullMQ queues and workers and their ioredis
 * connections, with the options BullMQ needs (`maxRetriesPerRequest: null` on
 * worker connections, error handlers, bounded job retention).
 *
 * Jobs carry ids and round/update names only: never ciphertexts (job data is
 * JSON in Redis, binary would cost base64) and never secrets.
 */
import { createHash } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisConnection } from './redis-connection.js';

export const FOLD_QUEUE = 'fold-update';
export const LIFECYCLE_QUEUE = 'round-lifecycle';

/** Fold one committed update into its round's encrypted sum. */
export interface FoldJob {
  roundId: string;
  clientId: string;
  updateId: string;
}

/** Close a round (deadline) or finalize it (fold check, release). */
export interface LifecycleJob {
  kind: 'close-round' | 'finalize-round';
  roundId: string;
}

/**
 * The BullMQ prefix of a deployment's queues: `<keyPrefix>:{<keyPrefix>:q}`.
 *
 * On a Redis Cluster every key a BullMQ script touches must hash to one slot,
 * so the prefix carries a hash tag (BullMQ builds keys as
 * `<prefix>:<queue>:<suffix>`). The tag holds the key prefix, so deployments
 * sharing a cluster put their queues in different slots, and the keys still
 * start with `<keyPrefix>:`, so one pattern (`SCAN MATCH secagg:*`, an ACL
 * `~secagg:*`) covers everything a deployment owns. On a single Redis the
 * braces are plain characters.
 */
export function queuePrefix(keyPrefix: string): string {
  if (/[{}]/.test(keyPrefix)) throw new Error('the key prefix may not contain braces (they would move the hash tag)');
  return `${keyPrefix}:{${keyPrefix}:q}`;
}

/** Keep finished jobs for a while for inspection, but bounded (BullMQ keeps all by default). */
const RETENTION: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> = {
  removeOnComplete: { age: 3_600, count: 10_000 },
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
};

function stableId(kind: string, ...parts: string[]): string {
  // BullMQ job ids may not contain ':'; hashing also bounds their length.
  return `${kind}-${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40)}`;
}

export class RoundQueues {
  readonly fold: Queue<FoldJob>;
  readonly lifecycle: Queue<LifecycleJob>;

  constructor(connection: RedisConnection, readonly prefix: string) {
    this.fold = new Queue<FoldJob>(FOLD_QUEUE, { connection: connection as ConnectionOptions, prefix });
    this.lifecycle = new Queue<LifecycleJob>(LIFECYCLE_QUEUE, { connection: connection as ConnectionOptions, prefix });
  }

  /** Idempotent per (round, client, update): the same job id is added once. */
  async enqueueFold(job: FoldJob): Promise<void> {
    await this.fold.add('fold-update', job, {
      jobId: stableId('fold', job.roundId, job.clientId, job.updateId),
      attempts: 50,
      backoff: { type: 'exponential', delay: 500 },
      ...RETENTION,
    });
  }

  /** Schedules the deadline close. Idempotent per round. */
  async scheduleClose(roundId: string, delayMs: number): Promise<void> {
    await this.lifecycle.add('close-round', { kind: 'close-round', roundId }, {
      jobId: stableId('close', roundId),
      delay: Math.max(0, delayMs),
      attempts: 50,
      backoff: { type: 'exponential', delay: 500 },
      ...RETENTION,
    });
  }

  /** Asks for the round to be finalized. Idempotent per round. */
  async enqueueFinalize(roundId: string): Promise<void> {
    await this.lifecycle.add('finalize-round', { kind: 'finalize-round', roundId }, {
      jobId: stableId('finalize', roundId),
      attempts: 1_000,
      backoff: { type: 'fixed', delay: 1_000 },
      ...RETENTION,
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.fold.close(), this.lifecycle.close()]);
  }
}

/** A worker with an error handler (an unhandled 'error' event would crash the process). */
export function createWorker<T>(
  name: string,
  processor: Processor<T>,
  connection: RedisConnection,
  options: { prefix: string; concurrency: number; logger: Logger; lockDurationMs?: number; stalledIntervalMs?: number },
): Worker<T> {
  const settings: WorkerOptions = {
    connection: connection as ConnectionOptions,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // A job whose worker died is picked up again (stalled-job recovery).
    maxStalledCount: 100,
  };
  const worker = new Worker<T>(name, processor, settings);
  worker.on('error', (error) => options.logger.error({ err: error, queue: name }, 'worker error'));
  worker.on('failed', (job, error) =>
    options.logger.warn({ queue: name, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error }, 'job failed'),
  );
  return worker;
}
