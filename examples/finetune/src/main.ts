/**
 * `npm run example:finetune [-- --quick] [--out DIR] [--rounds N] [--epsilons 2,8,32] [--sampling-rate Q] …`
 *
 * Private federated fine-tuning of a small character-level language model on
 * State of the Union addresses through a real local secagg cluster; writes
 * results.json, results.md (the table) and perplexity.svg (the plot) to
 * --out (default examples/finetune/results, or results-quick with --quick).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runExperiment, type ExperimentOptions } from './experiment.js';
import { FULL, QUICK } from './presets.js';
import { perplexityPlot, resultTable } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    rounds: { type: 'string' },
    epsilons: { type: 'string' },
    'sampling-rate': { type: 'string' },
    'clip-norm': { type: 'string' },
    'max-clients': { type: 'string' },
    'server-momentum': { type: 'string' },
    seed: { type: 'string' },
  },
});
const preset = args.quick ? QUICK : FULL;
const options: ExperimentOptions = {
  ...preset,
  ...(args.rounds ? { rounds: Number(args.rounds) } : {}),
  ...(args.epsilons ? { epsilons: args.epsilons.split(',').map(Number) } : {}),
  ...(args['sampling-rate'] ? { samplingRate: Number(args['sampling-rate']) } : {}),
  ...(args['clip-norm'] ? { clipNorm: Number(args['clip-norm']) } : {}),
  ...(args['max-clients'] ? { maxClients: Number(args['max-clients']) } : {}),
  ...(args['server-momentum'] ? { serverMomentum: Number(args['server-momentum']) } : {}),
  ...(args.seed ? { seed: Number(args.seed) } : {}),
  log: (line) => console.log(line),
};
const out = resolve(args.out ?? join(here, '..', args.quick ? 'results-quick' : 'results'));

const result = await runExperiment(options);
mkdirSync(out, { recursive: true });
const table = resultTable(result);
writeFileSync(join(out, 'results.json'), JSON.stringify(result, null, 2) + '\n');
writeFileSync(join(out, 'results.md'), table + '\n');
writeFileSync(join(out, 'perplexity.svg'), perplexityPlot(result));
console.log(`\n${table}\n`);
for (const run of result.runs) {
  if (run.ledgerEpsilon === undefined) continue;
  console.log(`${run.name}: ε ledger ${run.ledgerEpsilon.toFixed(4)}, RDP accountant ${run.accountantEpsilonRdp!.toFixed(4)}, PLD ${run.accountantEpsilonPld!.toFixed(4)} (δ = ${options.delta}); C per round ${run.clipNorms.map((c) => c.toPrecision(3)).join(', ')}`);
}
console.log(`\nwall time ${result.totalSeconds.toFixed(1)} s; results, table and plot in ${out}`);
