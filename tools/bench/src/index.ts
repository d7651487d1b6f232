/**
 * @secagg/bench — `npm run bench`: every system figure as a ratio to a limit
 * measured in the same run (issue 5). The CLI is `dist/cli.js`; the report
 * types and checker are exported for tools that read `bench/results/latest.json`.
 */
export { checkReport, figureOf, judgedValue, ratiosFor, REPORT_SCHEMA } from './report.js';
export type { BenchReport, ConfigurationReport, GoalReport, Measure, Ratio } from './report.js';
export { formatReport } from './markdown.js';
export { parseBenchArgs, DEFAULT_OUT, MODE_DEFAULTS } from './options.js';
export type { BenchOptions } from './options.js';
export { runBench } from './run-bench.js';
