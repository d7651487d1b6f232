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
import type { JobState } from 'bullmq';
import type { Logger } from '@secagg/core';
import type { RedisConnection } from './redis-connection.js';

/** Thrown by a job for a permanent failure: it fails at once, without retries (BullMQ's). */
export { UnrecoverableError } from 'bullmq';

export const LIFECYCLE_QUEUE = 'round-lifecycle';

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

/**
 * Retry policy of every job (issue 12 item 3): a transient failure is retried
 * for ever, with a delay doubling from the worker's initial delay up to its cap
 * (`cappedExponentialBackoff`, configured on the worker); a permanent one throws
 * BullMQ's UnrecoverableError and fails at once. No attempt budget can run out
 * while the keyholder or Redis is down, however long.
 */
export const CAPPED_EXPONENTIAL = 'capped-exponential';
const RETRY_FOREVER: Pick<JobsOptions, 'attempts' | 'backoff'> = {
  attempts: Number.MAX_SAFE_INTEGER,
  backoff: { type: CAPPED_EXPONENTIAL },
};

/** Delay before retry n (1-based): initial·2^(n-1), capped, with ±20% jitter so retries of many jobs spread out. */
export function cappedExponentialBackoff(initialDelayMs: number, maxDelayMs: number): (attemptsMade: number) => number {
  return (attemptsMade) => {
    const base = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), 40));
    return Math.round(base * (0.8 + 0.4 * Math.random()));
  };
}

/** States in which a job will still run (or is running): nothing to add. */
const LIVE_STATES: ReadonlySet<JobState | 'unknown'> = new Set(['active', 'waiting', 'waiting-children', 'delayed', 'prioritized']);

function stableId(kind: string, ...parts: string[]): string {
  // BullMQ job ids may not contain ':'; hashing also bounds their length.
  return `${kind}-${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 40)}`;
}

/** How to treat a job that is already live. */
export interface LiveJobOptions {
  /**
   * Latest acceptable due time of a delayed job, ms since the epoch by Redis's
   * clock: one delayed beyond it (which no honest backoff produces: a skewed
   * clock did) is promoted to run now.
   */
  dueBy?: number;
}

export class RoundQueues {
  readonly lifecycle: Queue<LifecycleJob>;

  constructor(connection: RedisConnection, readonly prefix: string) {
    // Folds are not jobs: aggregators fold ranges of the commit log (services/aggregator range-worker.ts).
    this.lifecycle = new Queue<LifecycleJob>(LIFECYCLE_QUEUE, { connection: connection as ConnectionOptions, prefix });
  }

  /**
   * Schedules the deadline close. Idempotent per round. The close job checks
   * the deadline against Redis's clock when it runs (a skewed service clock
   * may fire it early); the aggregators' sweeper closes a round whose close
   * job did not.
   */
  async scheduleClose(roundId: string, delayMs: number): Promise<void> {
    const job: LifecycleJob = { kind: 'close-round', roundId };
    await this.addLive(this.lifecycle, 'close-round', job, stableId('close', roundId), ['failed'], { delay: Math.max(0, delayMs) });
  }

  /**
   * Asks for the round to be finalized: idempotent while a finalize job of the
   * round is waiting, delayed or running; otherwise (none, or one that
   * completed or failed earlier) a fresh one is added. With `dueBy`, a
   * finalize delayed past it is run now. Returns true when it added or
   * promoted one.
   */
  async enqueueFinalize(roundId: string, options: LiveJobOptions = {}): Promise<boolean> {
    const job: LifecycleJob = { kind: 'finalize-round', roundId };
    return this.addLive(this.lifecycle, 'finalize-round', job, stableId('finalize', roundId), ['failed', 'completed'], {}, options);
  }

  /**
   * Adds a job under a fixed id unless one is live. A job under that id in
   * one of the `replace` states is removed first, so that the add takes.
   * Concurrent callers are safe: BullMQ adds an id once, and removing a job
   * that is running fails (it is locked).
   */
  private async addLive<T>(
    queue: Queue<T>,
    name: string,
    data: T,
    jobId: string,
    replace: readonly JobState[],
    options: JobsOptions,
    live: LiveJobOptions = {},
  ): Promise<boolean> {
    const state = await queue.getJobState(jobId);
    if (state === 'delayed' && live.dueBy !== undefined) return this.promoteIfDueAfter(queue, jobId, live.dueBy);
    if (LIVE_STATES.has(state)) return false;
    if (state !== 'unknown') {
      if (!(replace as readonly string[]).includes(state)) return false;
      await queue.remove(jobId);
    }
    // @ts-expect-error BullMQ's Queue generics type the name and data through ExtractNameType; both are plain here.
    await queue.add(name, data, { jobId, ...RETRY_FOREVER, ...RETENTION, ...options });
    return true;
  }

  /**
   * Runs a delayed job now if it is due after `dueBy` (ms). A retry's due time
   * is counted by the clock of the aggregator that delayed it: one whose clock
   * runs minutes ahead would park a job for those minutes.
   */
  private async promoteIfDueAfter<T>(queue: Queue<T>, jobId: string, dueBy: number): Promise<boolean> {
    // BullMQ scores a delayed job by its due time × 0x1000 (plus a counter in the low bits).
    const score = await (await queue.client).zscore(queue.keys.delayed!, jobId);
    if (score === null || Math.floor(Number(score) / 0x1000) <= dueBy) return false;
    const delayed = await queue.getJob(jobId);
    // It may have become due and run meanwhile: then there is nothing to promote.
    return (delayed?.promote().then(() => true) ?? Promise.resolve(false)).catch(() => false);
  }

  async close(): Promise<void> {
    await this.lifecycle.close();
  }
}

/** A worker with an error handler (an unhandled 'error' event would crash the process). */
export function createWorker<T>(
  name: string,
  processor: Processor<T>,
  connection: RedisConnection,
  options: {
    prefix: string;
    concurrency: number;
    logger: Logger;
    lockDurationMs?: number;
    stalledIntervalMs?: number;
    /** First retry delay of a failed job and its cap, ms (the `capped-exponential` backoff). */
    retry?: { initialDelayMs: number; maxDelayMs: number };
  },
): Worker<T> {
  const backoff = cappedExponentialBackoff(options.retry?.initialDelayMs ?? 500, options.retry?.maxDelayMs ?? 30_000);
  const settings: WorkerOptions = {
    connection: connection as ConnectionOptions,
    prefix: options.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    // A job whose worker died is picked up again (stalled-job recovery).
    maxStalledCount: 100,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) => {
        if (type !== CAPPED_EXPONENTIAL) throw new Error(`unknown backoff strategy ${type}`);
        return backoff(attemptsMade);
      },
    },
  };
  const worker = new Worker<T>(name, processor, settings);
  worker.on('error', (error) => options.logger.error({ err: error, queue: name }, 'worker error'));
  worker.on('failed', (job, error) =>
    options.logger.warn({ queue: name, jobId: job?.id, attemptsMade: job?.attemptsMade, err: error }, 'job failed'),
  );
  return worker;
}
