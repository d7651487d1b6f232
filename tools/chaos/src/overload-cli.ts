#!/usr/bin/env node
/**
 * `npm run overload -- [--clients 200] [--length 8192] [--fold-delay-ms 250] [--seed S] [--json]`
 *
 * Runs the overload harness (overload.ts) once and prints the peak memory of
 * every process and of Redis against the bounds that follow from the
 * configured limits, and how many clients were told to retry. With --json
 * the last stdout line is the whole report. Exit status 0 when every bound
 * held and the round released exactly the sum of the updates.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_OVERLOAD, runOverload } from './overload.js';
import { randomSeed } from './prng.js';
import { toMiB } from './memory-probe.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: String(DEFAULT_OVERLOAD.clients) },
    length: { type: 'string', default: String(DEFAULT_OVERLOAD.length) },
    'fold-delay-ms': { type: 'string', default: String(DEFAULT_OVERLOAD.foldDelayMs) },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
  },
});
const seed = args.seed === undefined ? randomSeed() : Number(args.seed) >>> 0;
console.log(`overload seed ${seed}`);
const g = DEFAULT_OVERLOAD.gateway;
console.log(
  `gateway limits: maxConnections ${g.maxConnections}, maxConcurrentStreams ${g.maxConcurrentStreams}, maxWaitingStreams ${g.maxWaitingStreams}, maxStreamsPerClient ${g.maxStreamsPerClient}, ` +
    `maxFoldBacklog ${g.maxFoldBacklog}, maxStagedBytes ${g.maxStagedBytes}, admissionWaitMs ${g.admissionWaitMs}, overloadRetryAfterMs ${g.overloadRetryAfterMs}`,
);

let exitCode = 1;
try {
  const report = await runOverload({
    ...DEFAULT_OVERLOAD,
    clients: Number(args.clients),
    length: Number(args.length),
    foldDelayMs: Number(args['fold-delay-ms']),
    seed,
    logDir: args['log-dir'],
    log: (line) => console.error(`[overload] ${line}`),
  });
  const rows: [string, string, string][] = [['what', 'peak', 'bound']];
  for (const p of report.processes) {
    rows.push([`${p.name} RSS (idle ${toMiB(p.idleRssBytes)} MiB)`, `${toMiB(p.peakRssBytes)} MiB`, p.boundBytes === undefined ? '-' : `${toMiB(p.boundBytes)} MiB`]);
  }
  rows.push([`redis used_memory (baseline ${toMiB(report.redis.baselineBytes)} MiB)`, `${toMiB(report.redis.usedMemoryPeak)} MiB`, `${toMiB(report.redis.boundBytes)} MiB`]);
  rows.push(['redis-server RSS', `${toMiB(report.redis.peakRssBytes)} MiB`, '-']);
  rows.push(['staged bytes (all streams)', `${toMiB(report.observed.maxStagedBytes)} MiB`, `${toMiB(report.bounds.maxStagedBytes)} MiB`]);
  rows.push(['committed, not yet folded', `${report.observed.maxUnfoldedUpdates} updates`, `${report.bounds.unfoldedUpdates} updates`]);
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(`| ${r.map((cell, c) => cell.padEnd(w[c]!)).join(' | ')} |`);
    if (i === 0) console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  }
  console.log(`clients: ${report.clients}, receipts ${report.acknowledged}, told to retry ${report.clientsToldToRetry} (${report.retryAnswers} RESOURCE_EXHAUSTED answers), in ${report.seconds} s`);
  for (const [reason, n] of Object.entries(report.refusals)) console.log(`  ${n} x ${reason}`);
  if (Object.keys(report.otherErrors).length) console.log(`other errors: ${JSON.stringify(report.otherErrors)}`);
  console.log(`release: ${report.released ? 'RELEASED' : 'not released'}, max |error| ${report.maxAbsError}`);
  for (const problem of report.problems) console.log(`PROBLEM: ${problem}`);
  console.log(report.ok ? 'OK: every bound held' : 'FAIL');
  if (args.json) console.log(JSON.stringify(report));
  exitCode = report.ok ? 0 : 1;
} catch (error) {
  console.error(`overload run failed (seed ${seed}): ${(error as Error).stack ?? error}`);
}
process.exit(exitCode);
