#!/usr/bin/env node
/**
 * `npm run chaos -- --faults N --clients M --length L --seed S [--json]`
 *
 * Runs the chaos harness (chaos.ts) once. Prints the seed first, progress on
 * stderr, a summary on stdout and, with --json, one JSON object as the last
 * line of stdout:
 *   {"faults": n, "acknowledged": n, "folded": n, "lost": n, "duplicated": n, "partial": n,
 *    "rounds": n, "released": n, "stuck": n, "wasted": n, "max_abs_error": x, "ok": bool}
 * Exit status 0 when ok.
 *
 * More options: --fold-delay-ms (aggregator test knob, 100), --max-gap-ms
 * (600), --max-down-ms (300), --targets redis,client-gateway,... , --log-dir,
 * --scenarios keyholder-kill-in-release,... | none (liveness scenarios, default
 * all), --scenario-share (0.3), --long-outage-ms (15000), --end-timeout-ms (300000).
 * --keyholders N (threshold keyholders: a committee of N, its members among the targets).
 */
import { parseArgs } from 'node:util';
import { chaosJsonLine, formatCounts, runChaos } from './chaos.js';
import { LIVENESS_SCENARIOS, type LivenessScenario } from './liveness-scenarios.js';
import { randomSeed } from './prng.js';

const { values: args } = parseArgs({
  options: {
    faults: { type: 'string', default: '20' },
    clients: { type: 'string', default: '20' },
    length: { type: 'string', default: '5000' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    'fold-delay-ms': { type: 'string', default: '100' },
    'max-gap-ms': { type: 'string', default: '600' },
    'max-down-ms': { type: 'string', default: '300' },
    targets: { type: 'string' },
    keyholders: { type: 'string', default: '1' },
    'log-dir': { type: 'string' },
    scenarios: { type: 'string' },
    'scenario-share': { type: 'string', default: '0.3' },
    'long-outage-ms': { type: 'string', default: '15000' },
    'end-timeout-ms': { type: 'string', default: '300000' },
  },
});

function integer(name: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name} must be an integer >= ${min} (got ${text})`);
    process.exit(2);
  }
  return value;
}

const seed = args.seed === undefined ? randomSeed() : integer('seed', args.seed, 0) >>> 0;
const faults = integer('faults', args.faults, 0);
const clients = integer('clients', args.clients, 1);
const length = integer('length', args.length, 2);
console.log(`chaos seed ${seed} (replay: npm run chaos -- --seed ${seed} --faults ${faults} --clients ${clients} --length ${length})`);

function scenarioList(text: string | undefined): LivenessScenario[] {
  if (text === undefined) return [...LIVENESS_SCENARIOS];
  if (text === 'none' || text === '') return [];
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(LIVENESS_SCENARIOS as readonly string[]).includes(name)) {
      console.error(`--scenarios: unknown scenario ${name} (known: ${LIVENESS_SCENARIOS.join(', ')}, or none)`);
      process.exit(2);
    }
  }
  return names as LivenessScenario[];
}
const scenarioShare = Number(args['scenario-share']);
if (!(scenarioShare >= 0 && scenarioShare <= 1)) {
  console.error(`--scenario-share must be in [0, 1] (got ${args['scenario-share']})`);
  process.exit(2);
}

let exitCode = 1;
try {
  const report = await runChaos({
    faults,
    clients,
    length,
    seed,
    foldDelayMs: integer('fold-delay-ms', args['fold-delay-ms'], 0),
    maxGapMs: integer('max-gap-ms', args['max-gap-ms'], 0),
    maxDownMs: integer('max-down-ms', args['max-down-ms'], 0),
    targets: args.targets?.split(',').map((t) => t.trim()),
    keyholders: integer('keyholders', args.keyholders, 1),
    logDir: args['log-dir'],
    scenarios: scenarioList(args.scenarios),
    scenarioShare,
    longOutageMs: integer('long-outage-ms', args['long-outage-ms'], 0),
    endTimeoutMs: integer('end-timeout-ms', args['end-timeout-ms'], 1_000),
    log: (line) => console.error(`[chaos] ${line}`),
  });
  const d = report.details;
  console.log(`round ${d.roundId}: ${d.state}${d.failureReason ? ` (${d.failureReason})` : ''} after ${d.seconds} s`);
  console.log(`faults: ${report.faults} (${formatCounts(d.faultsByTarget)}); ${d.faultsDuringUploads} with uploads in flight`);
  console.log(`clients: ${report.acknowledged} acknowledged, ${d.submissions} submissions, errors seen: ${formatCounts(d.clientErrors) || 'none'}`);
  console.log(`round counters: committed ${d.committedCount}, folded ${d.foldedCount}; release counts ${d.contributionCount}`);
  console.log(`decoded from the released sum: folded ${report.folded}, lost ${report.lost}, duplicated ${report.duplicated}, partial ${report.partial}, max |error| ${report.max_abs_error}`);
  console.log(`rounds: ${report.rounds}, released ${report.released}, stuck ${report.stuck}, wasted ${report.wasted}`);
  for (const problem of report.problems) console.log(`PROBLEM: ${problem}`);
  if (!report.ok) console.log(`service logs kept in ${d.logDir}`);
  console.log(report.ok ? 'OK: exactly once under every fault' : 'FAIL');
  if (args.json) console.log(chaosJsonLine(report));
  exitCode = report.ok ? 0 : 1;
} catch (error) {
  console.error(`chaos run failed (seed ${seed}): ${(error as Error).stack ?? error}`);
  if (args.json) {
    console.log(
      chaosJsonLine({
        faults: 0, acknowledged: 0, folded: 0, lost: 0, duplicated: 0, partial: 0, rounds: 0, released: 0, stuck: 0, wasted: 0, max_abs_error: null, ok: false,
      }),
    );
  }
}
process.exit(exitCode);
