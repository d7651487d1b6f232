/**
 * The chaos harness: a real cluster (private redis-server with the shipped
 * config, keyholder, gateway, two aggregators — all child processes), signed
 * simulated clients submitting concurrently with SDK retries, and a fault
 * loop that SIGKILLs a randomly chosen process — Redis included — at random
 * moments and restarts it. Then the round is closed, released without noise
 * (test-only round flag, allowed by a test-only keyholder setting), and the
 * released sum is checked two ways:
 *
 *  - against the plaintext sum of the acknowledged updates (max_abs_error);
 *  - update by update, from the markers each update carries (signature.ts):
 *    how many times is each update in the sum — 0 (lost), 1, 2+ (duplicated)
 *    or inconsistently across its ciphertexts (partial).
 *
 * Every random choice comes from the seed (printed), so a failure can be
 * replayed with the same schedule (process timing still varies).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { RoundState } from '@secagg/proto';
import { clipToNorm } from '@secagg/sdk';
import { closeRound, HARNESS_COORDINATOR, roundResult, waitForRoundEnd } from './coordinator.js';
import { FaultInjector, type FaultRecord } from './fault-injector.js';
import { Prng } from './prng.js';
import { decodePresence, signatureLayout, signedUpdate, tallyPresence, type PresenceTally } from './signature.js';
import { runSimulatedClient, type ClientOutcome } from './simulated-client.js';

export interface ChaosOptions {
  faults: number;
  clients: number;
  /** Values per update. */
  length: number;
  seed: number;
  /** Aggregator test knob: pause inside each fold (widens the crash window of a fold), ms. */
  foldDelayMs?: number;
  /** Wait before each kill, uniform in [minGapMs, maxGapMs]. */
  minGapMs?: number;
  maxGapMs?: number;
  /** Downtime after each kill, uniform in [0, maxDownMs]. */
  maxDownMs?: number;
  /** What may be killed; default every process of the cluster and Redis. */
  targets?: string[];
  /** Threshold keyholders (issue 16): a committee of this many keyholders (n-of-n) instead of the single one. */
  keyholders?: number;
  /** Longest wait for the round to end once closed, ms. */
  endTimeoutMs?: number;
  /** Keep service logs here (default: a temp dir, kept only when the run fails). */
  logDir?: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  faults: number;
  acknowledged: number;
  folded: number;
  lost: number;
  duplicated: number;
  partial: number;
  /** max |released - plaintext sum of acknowledged updates|; null when nothing was released. */
  max_abs_error: number | null;
  ok: boolean;
  /** Why ok is false (empty when ok). */
  problems: string[];
  details: {
    roundId: string;
    state: string;
    failureReason: string;
    committedCount: number;
    foldedCount: number;
    contributionCount: number;
    unacknowledgedPresent: number;
    faultsByTarget: Record<string, number>;
    faultsDuringUploads: number;
    submissions: number;
    clientErrors: Record<string, number>;
    unacknowledgedClients: string[];
    seconds: number;
    logDir: string;
  };
}

/** Largest acceptable |released - expected| (CKKS error of a noise-free sum is ~1e-6). */
export const MAX_ABS_ERROR = 1e-4;

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const root = new Prng(options.seed);
  const faultRng = root.fork();
  const clientRng = root.fork();
  const dataRng = root.fork();
  const foldDelayMs = options.foldDelayMs ?? 100;

  const cluster = await LocalCluster.start({
    privateRedis: { configFile: SHIPPED_REDIS_CONF },
    aggregators: 2,
    allowUnsafeNoiseFreeRelease: true,
    keyholders: options.keyholders,
    logDir: options.logDir,
    env: {
      aggregator: {
        // A killed aggregator's job is handed to the other within seconds, not the default minute.
        AGGREGATOR_LOCK_DURATION_MS: '5000',
        AGGREGATOR_STALLED_CHECK_INTERVAL_MS: '2500',
        AGGREGATOR_TEST_FOLD_DELAY_MS: String(foldDelayMs),
      },
    },
  });
  log(`cluster up: redis ${cluster.redisUrl} (shipped config), gateway ${cluster.gatewayAddress}; logs in ${cluster.logDir}`);
  let report: ChaosReport | undefined;
  try {
    report = await chaosRound(cluster, options, { faultRng, clientRng, dataRng }, log);
    report.details.seconds = Math.round((performance.now() - started) / 1000);
    return report;
  } finally {
    if (!report?.ok) process.env.SECAGG_KEEP_LOGS = '1';
    await cluster.stop();
  }
}

async function chaosRound(
  cluster: LocalCluster,
  options: ChaosOptions,
  rngs: { faultRng: Prng; clientRng: Prng; dataRng: Prng },
  log: (line: string) => void,
): Promise<ChaosReport> {
  const { faults, clients, length } = options;
  const coordinator = await cluster.client('coordinator', HARNESS_COORDINATOR);
  const round = await coordinator.createRound({
    vectorLength: length,
    minClients: clients,
    maxClients: clients,
    deadlineUnixMs: BigInt(Date.now() + 6 * 3_600_000),
    clipNorm: 1,
    noiseMultiplier: 0,
    unsafeDisableNoise: true,
  });
  coordinator.close();
  const roundId = round.roundId;
  const layout = signatureLayout(length, round.ckks!.valuesPerCiphertext, clients);
  const updates = Array.from({ length: clients }, (_, i) => signedUpdate(layout, i, rngs.dataRng.fork()));
  log(`round ${roundId}: ${clients} signed updates of ${length} values (${layout.blocks} ciphertexts each), ${faults} faults`);

  let uploading = 0;
  const injector = new FaultInjector(cluster, rngs.faultRng, {
    targets: options.targets ?? ['redis', ...cluster.processNames()],
    minGapMs: options.minGapMs ?? 0,
    maxGapMs: options.maxGapMs ?? 600,
    maxDownMs: options.maxDownMs ?? 300,
    busy: () => uploading,
    preferBusy: 0.5,
    log,
  });
  // Client i starts after fault gate[i] has happened: uploads are spread over the whole fault schedule.
  const gates = updates.map(() => ({ afterFault: faults > 0 ? rngs.clientRng.int(0, faults - 1) : 0, jitterMs: rngs.clientRng.int(0, 500) }));
  const clientRngs = updates.map(() => rngs.clientRng.fork());
  const faultRun = injector.run(faults);
  const outcomes: Promise<ClientOutcome>[] = updates.map(async (values, i) => {
    await injector.whenDone(gates[i]!.afterFault);
    await sleep(gates[i]!.jitterMs);
    const outcome = await runSimulatedClient({
      cluster,
      roundId,
      subject: `chaos-client-${i}`,
      updateId: `chaos-${options.seed}-${i}`,
      values,
      giveUpAtMs: Date.now() + 3_600_000,
      rng: clientRngs[i]!,
      onUploading: (active) => {
        uploading += active ? 1 : -1;
      },
    });
    log(
      outcome.receipt
        ? `client ${i}: receipt after ${outcome.submissions} submission(s)${Object.keys(outcome.errors).length ? ` (errors: ${formatCounts(outcome.errors)})` : ''}`
        : `client ${i}: NO receipt: ${outcome.failure}`,
    );
    return outcome;
  });
  // A process that dies on its own ends the run: clients would retry against it forever.
  let watchdog: NodeJS.Timeout | undefined;
  const died = new Promise<never>((_, reject) => {
    watchdog = setInterval(() => {
      try {
        injector.assertAlive();
      } catch (error) {
        reject(error);
      }
    }, 500);
  });
  died.catch(() => {});
  let records: FaultRecord[];
  let settled: ClientOutcome[];
  try {
    // A fault loop that breaks (a process that will not come back) ends the run here too.
    records = await Promise.race([faultRun, died]);
    settled = await Promise.race([Promise.all(outcomes), died]);
  } finally {
    clearInterval(watchdog);
  }
  log(`all ${faults} faults injected; every client has settled`);

  await closeRound(cluster, roundId);
  const ended = await waitForRoundEnd(cluster, roundId, options.endTimeoutMs ?? 300_000);
  const acknowledged = new Set(settled.flatMap((o, i) => (o.receipt ? [i] : [])));
  const details: ChaosReport['details'] = {
    roundId,
    state: RoundState[ended.state],
    failureReason: ended.failureReason,
    committedCount: ended.committedCount,
    foldedCount: ended.foldedCount,
    contributionCount: 0,
    unacknowledgedPresent: 0,
    faultsByTarget: countBy(records, (r) => r.target),
    faultsDuringUploads: records.filter((r: FaultRecord) => r.uploadsInFlight > 0).length,
    submissions: settled.reduce((n, o) => n + o.submissions, 0),
    clientErrors: settled.reduce<Record<string, number>>((all, o) => {
      for (const [code, n] of Object.entries(o.errors)) all[code] = (all[code] ?? 0) + n;
      return all;
    }, {}),
    unacknowledgedClients: settled.filter((o) => !o.receipt).map((o) => `${o.subject}: ${o.failure}`),
    seconds: 0,
    logDir: cluster.logDir,
  };
  const problems: string[] = [];
  if (acknowledged.size !== clients) problems.push(`${clients - acknowledged.size} clients got no receipt`);
  if (ended.state !== RoundState.RELEASED) {
    problems.push(`round ended ${details.state}: ${ended.failureReason}`);
    return { seed: options.seed, faults: records.length, acknowledged: acknowledged.size, folded: 0, lost: acknowledged.size, duplicated: 0, partial: 0, max_abs_error: null, ok: false, problems, details };
  }

  const result = await roundResult(cluster, roundId);
  details.contributionCount = result.header.contributionCount;
  const tally: PresenceTally = tallyPresence(decodePresence(layout, result.sum), acknowledged);
  details.unacknowledgedPresent = tally.unacknowledgedPresent;
  const expected = new Float64Array(length);
  for (const i of acknowledged) {
    const clipped = clipToNorm(updates[i]!, 1).values;
    for (let j = 0; j < length; j++) expected[j]! += clipped[j]!;
  }
  let maxAbsError = 0;
  for (let j = 0; j < length; j++) maxAbsError = Math.max(maxAbsError, Math.abs(result.sum[j]! - expected[j]!));

  if (tally.lost > 0) problems.push(`${tally.lost} acknowledged updates are missing from the sum`);
  if (tally.duplicated > 0) problems.push(`${tally.duplicated} updates are in the sum more than once`);
  if (tally.partial > 0) problems.push(`${tally.partial} updates are in the sum partially`);
  if (tally.unacknowledgedPresent > 0) problems.push(`${tally.unacknowledgedPresent} updates without a receipt are in the sum`);
  if (!(maxAbsError <= MAX_ABS_ERROR)) problems.push(`max |released - expected| = ${maxAbsError} > ${MAX_ABS_ERROR}`);
  if (details.contributionCount !== acknowledged.size) problems.push(`release counts ${details.contributionCount} contributions, ${acknowledged.size} acknowledged`);
  if (ended.foldedCount !== acknowledged.size) problems.push(`the round reports ${ended.foldedCount} folded, ${acknowledged.size} acknowledged`);
  return {
    seed: options.seed,
    faults: records.length,
    acknowledged: acknowledged.size,
    folded: tally.folded,
    lost: tally.lost,
    duplicated: tally.duplicated,
    partial: tally.partial,
    max_abs_error: maxAbsError,
    ok: problems.length === 0,
    problems,
    details,
  };
}

/** The `--json` line: exactly these keys, in this order. */
export function chaosJsonLine(
  report: Pick<ChaosReport, 'faults' | 'acknowledged' | 'folded' | 'lost' | 'duplicated' | 'partial' | 'max_abs_error' | 'ok'>,
): string {
  const fields: [string, unknown][] = [
    ['faults', report.faults],
    ['acknowledged', report.acknowledged],
    ['folded', report.folded],
    ['lost', report.lost],
    ['duplicated', report.duplicated],
    ['partial', report.partial],
    ['max_abs_error', report.max_abs_error],
    ['ok', report.ok],
  ];
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([k, n]) => `${k} x${n}`)
    .join(', ');
}
