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
 * Liveness (issue 12): a share of the faults are scenarios around side
 * rounds of their own (liveness-scenarios.ts: keyholder killed inside a
 * release, aggregator frozen across one, a long keyholder outage, the gateway
 * killed on the closing commit, clock skew, Redis refusing writes), so rounds
 * close and release while faults go on. Every round, the main one included,
 * must end within `endTimeoutMs` after the last fault: `stuck` counts those
 * that did not, `wasted` those that FAILED although the keyholder decrypted
 * them (a ledger charge for a result nobody can fetch).
 *
 * Every random choice comes from the seed (printed), so a failure can be
 * replayed with the same schedule (process timing still varies).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { RoundState } from '@secagg/proto';
import { clipToNorm } from '@secagg/sdk';
import { closeRound, HARNESS_COORDINATOR, roundResult, waitForRoundEnd } from './coordinator.js';
import { FaultInjector, type FaultRecord } from './fault-injector.js';
import { LIVENESS_SCENARIOS, SideRounds, type LivenessScenario } from './liveness-scenarios.js';
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
  /** Longest wait, after the last fault, for every round to end (longer: `stuck`), ms. */
  endTimeoutMs?: number;
  /** Liveness scenarios to mix in (default all) and the share of faults that are one (default 0.3; 0: kills only). */
  scenarios?: readonly LivenessScenario[];
  scenarioShare?: number;
  /** How long the keyholder stays down in the keyholder-long-outage scenario, ms (default 15 s: > 7 retries at the harness's 2 s cap). */
  longOutageMs?: number;
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
  /** Rounds of the run: the main round and the scenarios' side rounds. */
  rounds: number;
  /** Of those, RELEASED. */
  released: number;
  /** Not RELEASED or FAILED within `endTimeoutMs` after the last fault. */
  stuck: number;
  /** FAILED although the keyholder decrypted them (charged, or key consumed). */
  wasted: number;
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
    /** Side rounds: id, scenario, final state (or 'stuck'), failure reason. */
    sideRounds: { roundId: string; scenario: string; state: string; reason: string; acknowledged: number; contributions: number }[];
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
        // Liveness: sweeps and the retry cap short enough that a repaired round moves within seconds.
        AGGREGATOR_SWEEP_INTERVAL_MS: '2000',
        AGGREGATOR_JOB_RETRY_MAX_DELAY_MS: '2000',
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
  const side = new SideRounds(cluster, rngs.faultRng.fork(), {
    length: Math.min(length, 2_000),
    // Longer than the harness's job lock (5 s) plus a stalled check (2.5 s): another aggregator takes the job over.
    freezeMs: 9_000,
    longOutageMs: options.longOutageMs ?? 15_000,
    log,
  });
  const scenarioNames = options.scenarios ?? LIVENESS_SCENARIOS;
  const injector: FaultInjector = new FaultInjector(cluster, rngs.faultRng, {
    scenarios: side.scenarios(scenarioNames, () => injector),
    scenarioShare: scenarioNames.length > 0 ? (options.scenarioShare ?? 0.3) : 0,
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

  // Every round must end within the bound after the last fault.
  const endBy = Date.now() + (options.endTimeoutMs ?? 300_000);
  await closeRound(cluster, roundId);
  const ended = await waitForRoundEnd(cluster, roundId, Math.max(1_000, endBy - Date.now())).catch(() => undefined);
  const sideRounds = await settleSideRounds(cluster, side, endBy);
  side.close();
  const decrypted = decryptedRounds(cluster);
  const allRounds = [{ roundId, state: ended ? RoundState[ended.state] : 'stuck' }, ...sideRounds];
  const liveness = {
    rounds: allRounds.length,
    released: allRounds.filter((r) => r.state === 'RELEASED').length,
    stuck: allRounds.filter((r) => r.state === 'stuck').length,
    wasted: allRounds.filter((r) => r.state === 'FAILED' && decrypted.has(r.roundId)).length,
  };
  const acknowledged = new Set(settled.flatMap((o, i) => (o.receipt ? [i] : [])));
  const details: ChaosReport['details'] = {
    roundId,
    state: ended ? RoundState[ended.state] : 'stuck',
    failureReason: ended?.failureReason ?? '',
    committedCount: ended?.committedCount ?? 0,
    foldedCount: ended?.foldedCount ?? 0,
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
    sideRounds,
    seconds: 0,
    logDir: cluster.logDir,
  };
  const problems: string[] = [];
  if (acknowledged.size !== clients) problems.push(`${clients - acknowledged.size} clients got no receipt`);
  for (const r of sideRounds) {
    if (r.state !== 'RELEASED') problems.push(`side round ${r.roundId} (${r.scenario}) ended ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
    else if (r.contributions !== r.acknowledged) problems.push(`side round ${r.roundId} (${r.scenario}) released ${r.contributions} updates, ${r.acknowledged} acknowledged`);
  }
  if (liveness.stuck > 0) problems.push(`${liveness.stuck} rounds stuck (not ended ${Math.round((options.endTimeoutMs ?? 300_000) / 1000)} s after the last fault)`);
  if (liveness.wasted > 0) problems.push(`${liveness.wasted} rounds FAILED after a decryption (budget spent, no result)`);
  if (!ended || ended.state !== RoundState.RELEASED) {
    problems.push(`round ended ${details.state}: ${details.failureReason}`);
    return { seed: options.seed, faults: records.length, acknowledged: acknowledged.size, folded: 0, lost: acknowledged.size, duplicated: 0, partial: 0, ...liveness, max_abs_error: null, ok: false, problems, details };
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
    ...liveness,
    max_abs_error: maxAbsError,
    ok: problems.length === 0,
    problems,
    details,
  };
}

/**
 * Waits (until `endBy`) for each side round's clients and then for the round
 * to end; a round still running at `endBy` is 'stuck'.
 */
async function settleSideRounds(cluster: LocalCluster, side: SideRounds, endBy: number): Promise<ChaosReport['details']['sideRounds']> {
  const out: ChaosReport['details']['sideRounds'] = [];
  for (const round of side.rounds) {
    const outcomes = await round.clients.catch(() => [] as ClientOutcome[]);
    const acknowledged = outcomes.filter((o) => o.receipt).length;
    let state = 'stuck';
    let reason = '';
    let contributions = 0;
    try {
      const ended = await waitForRoundEnd(cluster, round.roundId, Math.max(1_000, endBy - Date.now()));
      state = RoundState[ended.state];
      reason = ended.failureReason;
      if (ended.state === RoundState.RELEASED) contributions = (await roundResult(cluster, round.roundId)).header.contributionCount;
    } catch (error) {
      reason = (error as Error).message;
    }
    out.push({ roundId: round.roundId, scenario: round.scenario, state, reason, acknowledged, contributions });
  }
  return out;
}

/**
 * Rounds the keyholder decrypted: charged to the privacy ledger (every
 * decryption is charged), or whose key is marked consumed (decryption
 * started). Read from its SQLite store, read-only; a query the store's schema
 * does not support counts nothing.
 */
function decryptedRounds(cluster: LocalCluster): Set<string> {
  const file = join(cluster.workDir, 'keyholder', 'keyholder.sqlite');
  const rounds = new Set<string>();
  if (!existsSync(file)) return rounds;
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    for (const sql of ['SELECT round_id FROM ledger', "SELECT round_id FROM round_keys WHERE status = 'consumed'"]) {
      try {
        for (const row of db.prepare(sql).all() as { round_id: string }[]) rounds.add(row.round_id);
      } catch {
        // another schema: nothing to learn from this query
      }
    }
  } finally {
    db.close();
  }
  return rounds;
}

/** The `--json` line: exactly these keys, in this order. */
export function chaosJsonLine(
  report: Pick<
    ChaosReport,
    'faults' | 'acknowledged' | 'folded' | 'lost' | 'duplicated' | 'partial' | 'rounds' | 'released' | 'stuck' | 'wasted' | 'max_abs_error' | 'ok'
  >,
): string {
  const fields: [string, unknown][] = [
    ['faults', report.faults],
    ['acknowledged', report.acknowledged],
    ['folded', report.folded],
    ['lost', report.lost],
    ['duplicated', report.duplicated],
    ['partial', report.partial],
    ['rounds', report.rounds],
    ['released', report.released],
    ['stuck', report.stuck],
    ['wasted', report.wasted],
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
