/**
 * The sweeper (issue 12 items 3 and 4): every `sweepIntervalMs`, each
 * aggregator walks the live rounds and restores the work a crash may have
 * dropped, so that no round waits on a job that no longer exists:
 *
 *  - a CLOSED round without a live finalize job (the gateway died between the
 *    commit that reached max clients and queueing the finalize; a finalize that
 *    failed for good earlier) gets a fresh one; one whose retry was delayed
 *    beyond any honest backoff (by an aggregator whose clock runs ahead) runs now;
 *  - an OPEN round whose deadline has passed by Redis's clock is closed and
 *    finalized (its close job fired early on a skewed clock, or was lost);
 *  - a RELEASED or FAILED round leaves the live list.
 *
 * Closing the round and queueing its finalize cannot be one atomic step
 * (BullMQ's keys live in another hash slot than the round's on a Redis
 * Cluster), so this sweep is what bounds the delay: a closed round has a
 * finalize job at most one sweep interval after any crash. Every action is
 * idempotent, so several aggregators sweeping at once is harmless.
 */
import type { AggregatorContext } from '../aggregator-context.js';

export interface SweepReport {
  /** Live rounds looked at. */
  rounds: number;
  /** CLOSED rounds that had no live finalize job and got one. */
  finalizeRequeued: number;
  /** OPEN rounds past their deadline that this sweep closed. */
  closedAtDeadline: number;
  /** Finished rounds dropped from the live list. */
  forgotten: number;
}

export async function sweepRounds(deps: Pick<AggregatorContext, 'store' | 'queues' | 'logger' | 'config'>): Promise<SweepReport> {
  const { store, queues, logger } = deps;
  const report: SweepReport = { rounds: 0, finalizeRequeued: 0, closedAtDeadline: 0, forgotten: 0 };
  const live = await store.liveRounds();
  if (live.length === 0) return report;
  const redisNow = await store.redisTimeMs();
  const dueBy = redisNow + latestHonestDelayMs(deps.config);
  for (const { roundId, deadlineMs } of live) {
    report.rounds++;
    const round = await store.getRound(roundId);
    // No complete record: a creation still in progress (or one that crashed half-way, which nobody can use).
    if (!round) continue;
    switch (round.state) {
      case 'RELEASED':
      case 'FAILED':
        await store.forgetLiveRound(roundId);
        report.forgotten++;
        break;
      case 'CLOSED':
        if (await queues.enqueueFinalize(roundId, { dueBy })) {
          report.finalizeRequeued++;
          logger.warn({ roundId }, 'sweeper: round CLOSED without a finalize job due soon (none, finished, or parked by a skewed clock); queued one');
        }
        break;
      case 'OPEN':
        if (deadlineMs > redisNow) break;
        if ((await store.closeAtDeadline(roundId)).state === 'CLOSED') {
          await queues.enqueueFinalize(roundId);
          report.closedAtDeadline++;
          logger.info({ roundId }, 'sweeper: deadline passed (Redis clock); round closed');
        }
        break;
    }
  }
  return report;
}

/**
 * The latest a finalize or fold retry can honestly be due, from now: the
 * retry cap with its jitter, or a finalize's poll, plus a second of slack.
 */
export function latestHonestDelayMs(config: Pick<AggregatorContext['config'], 'jobRetryMaxDelayMs' | 'finalizePollMs'>): number {
  return Math.ceil(Math.max(config.jobRetryMaxDelayMs * 1.2, config.finalizePollMs)) + 1_000;
}

/** What the sweeper reports to the process's metrics. */
export interface SweepCounters {
  sweeps: { inc(labels: { result: 'ok' | 'error' }): void };
  sweepRepairs: { inc(labels: { action: 'finalize_requeued' | 'closed_at_deadline' }, value: number): void };
}

/**
 * Runs {@link sweepRounds} every `intervalMs`, at most one sweep at a time in
 * this process; a failed sweep is logged and counted, and the next one
 * retries. `stop` ends the timer and waits for a sweep in flight.
 */
export function startSweeper(
  deps: Pick<AggregatorContext, 'store' | 'queues' | 'logger' | 'config'>,
  intervalMs: number,
  counters: SweepCounters,
): { stop(): Promise<void> } {
  let sweeping: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = sweepRounds(deps)
      .then((report) => {
        counters.sweeps.inc({ result: 'ok' });
        counters.sweepRepairs.inc({ action: 'finalize_requeued' }, report.finalizeRequeued);
        counters.sweepRepairs.inc({ action: 'closed_at_deadline' }, report.closedAtDeadline);
      })
      .catch((error: unknown) => {
        counters.sweeps.inc({ result: 'error' });
        deps.logger.warn({ err: error }, 'sweep failed; the next one retries');
      })
      .finally(() => {
        sweeping = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
