#!/usr/bin/env node
/**
 * `npm run example:distill [-- --quick] [--json] [--teachers N --queries Q --epsilons 0.5,1,2 --splits iid,non-iid --seed S --repeats R]`
 *
 * Prints the progress on stderr and the table (or, with --json, the whole
 * report as one JSON object) on stdout. Exit 0 when every round released,
 * 1 on any failure, 2 on bad arguments.
 */
import { parseArgs } from 'node:util';
import { FULL_RUN, QUICK_RUN, reportTable, runDistillation, type SplitName } from './distill.js';

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        json: { type: 'boolean' },
        teachers: { type: 'string' },
        queries: { type: 'string' },
        epsilons: { type: 'string' },
        splits: { type: 'string' },
        seed: { type: 'string' },
        repeats: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`distill: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log('usage: npm run example:distill -- [--quick] [--json] [--teachers N] [--queries Q] [--epsilons 0.5,1,2,4,8] [--splits iid,non-iid] [--seed S] [--repeats R]');
    return 0;
  }
  const base = values.quick ? QUICK_RUN : FULL_RUN;
  const integer = (raw: string | undefined, name: string, fallback: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new RangeError(`--${name} must be a positive integer`);
    return Number(raw);
  };
  let options;
  try {
    const epsilons = values.epsilons === undefined ? base.epsilons : values.epsilons.split(',').map(Number);
    if (epsilons.some((e) => !(e > 0 && Number.isFinite(e)))) throw new RangeError('--epsilons must be positive numbers');
    const splits = (values.splits === undefined ? base.splits : values.splits.split(',')) as SplitName[];
    if (splits.some((s) => s !== 'iid' && s !== 'non-iid')) throw new RangeError('--splits takes iid and non-iid');
    options = {
      ...base,
      teachers: integer(values.teachers, 'teachers', base.teachers),
      queries: integer(values.queries, 'queries', base.queries),
      seed: integer(values.seed, 'seed', base.seed),
      repeats: integer(values.repeats, 'repeats', base.repeats),
      epsilons,
      splits,
      log: (line: string) => console.error(line),
    };
  } catch (error) {
    console.error(`distill: ${(error as Error).message}`);
    return 2;
  }
  const report = await runDistillation(options);
  if (values.json) console.log(JSON.stringify(report));
  else for (const line of reportTable(report)) console.log(line);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`distill: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
