/**
 * The aggregator's Prometheus metrics: range folds by outcome, close/finalize
 * jobs by result and their latency (a finalize ends in the release), and the
 * lifecycle queue's depth.
 */
import { Gauge, type Counter, type Histogram } from 'prom-client';
import { registerRedisPersistenceMetrics, type ServiceMetrics } from '@secagg/observability';
import type { RoundQueues } from '@secagg/queue';
import { classifyRedisError, type RedisPersistenceWatch } from '@secagg/store';

export class AggregatorMetrics {
  readonly folds: Counter<'outcome'>;
  readonly lifecycle: Counter<'kind' | 'result'>;
  readonly lifecycleSeconds: Histogram<'kind'>;
  readonly sweeps: Counter<'result'>;
  readonly sweepRepairs: Counter<'action'>;

  constructor(metrics: ServiceMetrics, queues: RoundQueues, persistence: RedisPersistenceWatch) {
    this.sweeps = metrics.counter('secagg_sweeps_total', 'Sweeps of the live rounds by result (ok, error)', ['result']);
    this.sweepRepairs = metrics.counter(
      'secagg_sweep_repairs_total',
      'Work the sweeper restored: finalize jobs re-queued for CLOSED rounds without one, rounds closed at their deadline by Redis time',
      ['action'],
    );
    registerRedisPersistenceMetrics(metrics, persistence);
    this.folds = metrics.counter(
      'secagg_folds_total',
      'Range folds by outcome: folded (one update into one range), checkpoint (recorded), lease_lost, error (a pass that failed; retried)',
      ['outcome'],
    );
    this.lifecycle = metrics.counter('secagg_round_jobs_total', 'close-round and finalize-round jobs by result (RELEASED, FAILED, CLOSED, OPEN (close job before the deadline), delayed, a Redis refusal such as storage_full, error)', ['kind', 'result']);
    this.lifecycleSeconds = metrics.histogram('secagg_round_job_seconds', 'Duration of close and finalize jobs (finalize includes the release)', [0.01, 0.1, 0.5, 2, 10, 60, 300], ['kind']);
    new Gauge({
      name: 'secagg_queue_jobs',
      help: 'BullMQ jobs by queue and state',
      labelNames: ['queue', 'state'],
      registers: [metrics.registry],
      async collect() {
        for (const queue of [queues.lifecycle]) {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
        }
      },
    });
  }

  /**
   * Runs `work`, counting its outcome and timing it. BullMQ's control-flow
   * errors (Delayed, Waiting) count as 'delayed'; a Redis refusal by its reason
   * from the store's table (storage_full, storage_no_replicas, ...: retried);
   * anything else as 'error'.
   */
  async measure<R>(count: (result: string) => void, time: () => () => void, work: () => Promise<R>): Promise<R> {
    const stop = time();
    try {
      const result = await work();
      count(String(result));
      return result;
    } catch (error) {
      const name = (error as Error)?.name ?? '';
      count(name === 'DelayedError' || name === 'WaitingError' ? 'delayed' : (classifyRedisError(error)?.reason ?? 'error'));
      throw error;
    } finally {
      stop();
    }
  }
}

