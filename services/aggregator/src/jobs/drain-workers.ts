/**
 * How the aggregator's BullMQ workers stop on SIGTERM: no job is lost, since
 * every job is idempotent and a job left running is handed to another worker
 * by stalled-job recovery; the steps only make the hand-over quick.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import type { Logger } from '@secagg/core';

/** After the grace period, how long cancelled jobs get to hand themselves back before the process exits anyway, ms. */
const HAND_BACK_MS = 5_000;

/**
 * 1. Stop taking jobs; running ones finish within `graceMs`.
 * 2. Then cancel what still runs, which hands itself back within HAND_BACK_MS.
 * 3. Anything still running (a release in flight) is left to stalled-job recovery.
 */
export async function drainWorkers(workers: readonly Worker[], graceMs: number, logger: Logger): Promise<void> {
  const closed = Promise.all(workers.map((worker) => worker.close())).then(() => true);
  let done = await Promise.race([closed, sleep(graceMs).then(() => false)]);
  if (!done) {
    logger.warn({ graceMs }, 'grace period over: handing running jobs back');
    for (const worker of workers) worker.cancelAllJobs('shutdown');
    done = await Promise.race([closed, sleep(HAND_BACK_MS).then(() => false)]);
  }
  if (!done) logger.warn('jobs still running at exit: stalled-job recovery will hand them to another worker');
}
