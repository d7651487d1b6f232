/**
 * Prints `N passed, N failed` from jest's --json results: the last line of CI's output.
 *
 * A test file that fails before any of its tests runs (an import error, a syntax error) has no test
 * results of its own; it counts as one failed test, so that such a run never reads "0 failed".
 * No results file (the build or the proto check failed before jest ran) prints the reason, then
 * `0 passed, 1 failed`.
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let results;
try {
  results = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.log('jest wrote no results (did the build or the proto check fail?)');
  console.log('0 passed, 1 failed');
  process.exit(0);
}
const brokenFiles = results.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0);
for (const broken of brokenFiles) console.log(`failed to run: ${broken.name}`);
console.log(`${results.numPassedTests} passed, ${results.numFailedTests + brokenFiles.length} failed`);
