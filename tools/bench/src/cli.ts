#!/usr/bin/env node
/**
 * `npm run bench`: measures the limits and the system in one run, writes the
 * JSON report (default bench/results/latest.json) and prints a markdown table.
 * Progress goes to stderr, the table to stdout. Exit code 1 on any failure
 * (a run that cannot measure the whole system writes no report).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatReport } from './markdown.js';
import { parseBenchArgs, USAGE } from './options.js';
import { checkReport } from './report.js';
import { runBench } from './run-bench.js';

let options;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === undefined) {
  console.log(USAGE);
  process.exit(0);
}

const started = Date.now();
const report = await runBench(options, (line) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`));
const problems = checkReport(report);
if (problems.length > 0) {
  console.error(`the report is inconsistent (not written):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
mkdirSync(dirname(options.out), { recursive: true });
writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(formatReport(report));
console.error(`report written to ${options.out}`);
// grpc-js and ioredis may keep handles open a little longer than needed.
process.exit(0);
