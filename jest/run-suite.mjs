/**
 * `npm test`'s runner: the whole suite as two jest runs side by side, each one file at a time.
 *
 *  - the libraries' and services' own tests (packages/, services/): in-process, mostly CPU-bound
 *    (the DP accountants, SEAL) or on Redis with their own key prefixes;
 *  - the cross-service tests (test/, tools/, examples/): whole clusters of real processes, which
 *    spend much of their time waiting on those processes, timers and fsync.
 *
 * Run one after the other they took ~13 minutes on the 2-core CI machine; side by side the
 * second group's waits give the first group's CPU work somewhere to run. Within each group files
 * still run in band, as before. Arguments are passed to both runs; with a test path pattern
 * (e.g. `npm test -- round.int`) the suite runs as one jest run instead, so a pattern matching
 * nothing still fails as jest makes it fail.
 *
 * `--json --outputFile=F` (CI, .ci/tally.mjs) gets one results file: the two runs' results merged.
 * The libraries' run prints its output after the cross-service run's, so neither interleaves.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const JEST = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const NODE_ARGS = ['--experimental-vm-modules', '--disable-warning=ExperimentalWarning', JEST, '--runInBand'];
const GROUPS = [
  { name: 'cross-service tests', roots: ['test/', 'tools/', 'examples/'] },
  { name: 'library and service tests', roots: ['packages/', 'services/'] },
];

const args = process.argv.slice(2);
const outputFile = outputFileOf(args);
const jestArgs = args.filter((arg, i) => !(arg.startsWith('--outputFile') || (i > 0 && args[i - 1] === '--outputFile')));
const hasPattern = jestArgs.some((arg, i) => !arg.startsWith('-') && !(i > 0 && takesValue(jestArgs[i - 1])));

if (hasPattern) {
  process.exit(await run([...NODE_ARGS, ...args], 'inherit'));
}

const dir = mkdtempSync(join(tmpdir(), 'secagg-suite-'));
let failed = false;
try {
  const runs = GROUPS.map((group, i) => {
    const groupArgs = [...NODE_ARGS, ...jestArgs, ...(outputFile ? [`--outputFile=${join(dir, `${i}.json`)}`] : []), ...group.roots];
    const buffered = i > 0;
    return { group, buffered, done: run(groupArgs, buffered ? 'pipe' : 'inherit') };
  });
  for (const { group, buffered, done } of runs) {
    const code = await done;
    if (buffered) {
      console.log(`\n--- ${group.name} (ran alongside the above) ---\n`);
      process.stdout.write(done.output.join(''));
    }
    failed ||= code !== 0;
  }
  if (outputFile) writeFileSync(outputFile, JSON.stringify(merge(GROUPS.map((_, i) => readResults(join(dir, `${i}.json`))))));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** Runs node with `argv`; resolves its exit code. With 'pipe', stdout and stderr are kept in `.output`. */
function run(argv, stdio) {
  const output = [];
  const child = spawn(process.execPath, argv, { stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
  if (stdio === 'pipe') {
    child.stdout.on('data', (chunk) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk) => output.push(chunk.toString()));
  }
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  done.output = output;
  return done;
}

function outputFileOf(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--outputFile=')) return argv[i].slice('--outputFile='.length);
    if (argv[i] === '--outputFile') return argv[i + 1];
  }
  return undefined;
}

/** jest options that take a separate value (so that value is not a test path pattern). */
function takesValue(option) {
  return ['-t', '--testNamePattern', '--config', '-c', '--rootDir', '--maxWorkers', '-w', '--testTimeout', '--reporters', '--shard', '--seed', '--selectProjects'].includes(option);
}

/** A run's results; a run that wrote none (it crashed before jest reported) counts as one failure. */
function readResults(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return { numPassedTests: 0, numFailedTests: 1, numTotalTests: 1, success: false, testResults: [] };
  }
}

/** One jest results object from several: counts added, file results concatenated. */
function merge(results) {
  const merged = { ...results[0], testResults: [] };
  for (const key of Object.keys(results[0])) {
    if (key.startsWith('num') && typeof results[0][key] === 'number') merged[key] = results.reduce((sum, r) => sum + (r[key] ?? 0), 0);
  }
  merged.success = results.every((r) => r.success);
  for (const r of results) merged.testResults.push(...(r.testResults ?? []));
  return merged;
}
