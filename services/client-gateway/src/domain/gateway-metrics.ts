/**
 * The gateway's Prometheus metrics beyond gRPC calls and refusals (counted by
 * the call observer): rounds by state, updates committed and folded, bytes
 * and values ingested, staged bytes, queue depth, uploads in progress and
 * uploads discarded. The round figures are read from Redis when scraped (over
 * the newest `roundsScanned` rounds), so every gateway replica reports the
 * cluster's own figures; the upload figures are this gateway's.
 */
import { Counter, Gauge } from 'prom-client';
import type { ServiceMetrics } from '@secagg/observability';
import type { RoundStore } from '@secagg/store';
import type { RoundQueues } from '@secagg/queue';
import type { UploadAdmission } from './upload-admission.js';

export function registerGatewayMetrics(
  metrics: ServiceMetrics,
  deps: { store: RoundStore; queues: RoundQueues; uploads: UploadAdmission; roundsScanned: number },
): void {
  const registers = [metrics.registry];
  const rounds = async () => {
    const ids = await deps.store.listRoundIds(deps.roundsScanned);
    return (await Promise.all(ids.map((id) => deps.store.getRound(id)))).filter((r) => r !== undefined);
  };
  let snapshot: Promise<Awaited<ReturnType<typeof rounds>>> | undefined;
  // One Redis scan per scrape, shared by the gauges below.
  const current = () => (snapshot ??= rounds().finally(() => setTimeout(() => (snapshot = undefined), 500).unref()));

  new Gauge({
    name: 'secagg_rounds',
    help: 'Rounds by state (newest rounds, up to the scan limit)',
    labelNames: ['state'],
    registers,
    async collect() {
      const counts: Record<string, number> = { OPEN: 0, CLOSED: 0, RELEASED: 0, FAILED: 0 };
      for (const r of await current()) counts[r.state] = (counts[r.state] ?? 0) + 1;
      for (const [state, n] of Object.entries(counts)) this.set({ state: state.toLowerCase() }, n);
    },
  });
  new Gauge({
    name: 'secagg_updates',
    help: 'Updates committed (acknowledged) and folded into encrypted sums, over the scanned rounds',
    labelNames: ['stage'],
    registers,
    async collect() {
      let committed = 0;
      let folded = 0;
      for (const r of await current()) {
        committed += r.committed;
        folded += r.folded;
      }
      this.set({ stage: 'committed' }, committed);
      this.set({ stage: 'folded' }, folded);
    },
  });
  new Gauge({
    name: 'secagg_ingested_bytes',
    help: 'Ciphertext bytes of committed updates, over the scanned rounds',
    registers,
    async collect() {
      let bytes = 0;
      for (const r of await current()) bytes += r.committed * r.ckks.ciphertextCount * r.ckks.ciphertextBytes;
      this.set(bytes);
    },
  });
  new Gauge({
    name: 'secagg_ingested_values',
    help: 'Values of committed updates, over the scanned rounds',
    registers,
    async collect() {
      let values = 0;
      for (const r of await current()) values += r.committed * r.config.vectorLength;
      this.set(values);
    },
  });
  new Gauge({
    name: 'secagg_staged_bytes',
    help: 'Bytes reserved by uploads in progress, every gateway together (bounded by maxStagedBytes; an upload reserves its whole size when admitted)',
    registers,
    async collect() {
      this.set(await deps.uploads.reservedStagingBytes());
    },
  });
  new Gauge({
    name: 'secagg_uploads_in_progress',
    help: 'Upload streams admitted by this gateway and not finished',
    registers,
    collect() {
      this.set(deps.uploads.admittedCount);
    },
  });
  new Counter({
    name: 'secagg_uploads_discarded_total',
    help: 'Uploads admitted with a staging reservation that ended without a commit (their staged bytes thrown away), by the reason that ended them',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of deps.uploads.discardedUploads()) this.inc({ reason }, n);
    },
  });
  new Gauge({
    name: 'secagg_queue_jobs',
    help: 'BullMQ jobs by queue and state (round-lifecycle: close and finalize)',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      for (const queue of [deps.queues.lifecycle]) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
      }
    },
  });
}
