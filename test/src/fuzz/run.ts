/**
 * `npm run fuzz -- --cases N --seed S [--only validator,unary,streams,garbage,releases]`
 *
 * Runs the fuzz properties of the CI tests (fuzz-ciphertexts.test.ts,
 * fuzz-rpc.int.test.ts) with N cases in total, split by cost: most go to the
 * in-process ciphertext property, the rest to the RPC properties against one
 * real cluster. Streams run in batches, each into a fresh honest round whose
 * released sum is checked, so a long run never outgrows a round's
 * max_clients. Prints the seed first (replay with --seed), then counts and
 * outcomes; exits 1 on the first counterexample, with fast-check's report.
 */
import { parseArgs } from 'node:util';
import { buildValidatorTargets, runValidatorProperty } from './validator-property.js';
import { checkAftermath, checkHonestRound, createHonestRound, fuzzGarbageFrames, fuzzReleases, fuzzStreams, fuzzUnary, startFuzzCluster, type FuzzStats } from './rpc-fuzz.js';
import { fuzzSeed, seedFor } from './settings.js';

/** Share of the cases per property. */
const SHARES = { validator: 0.85, unary: 0.07, streams: 0.05, garbage: 0.02, releases: 0.01 } as const;
type Property = keyof typeof SHARES;
/** Stream cases per honest round. */
const STREAM_BATCH = 1_000;

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    only: { type: 'string' },
  },
});
const total = Number(values.cases);
if (!Number.isSafeInteger(total) || total < 1) throw new Error(`--cases must be a positive integer, got ${values.cases}`);
if (values.seed !== undefined) process.env.SECAGG_FUZZ_SEED = values.seed;
const seed = fuzzSeed();
const only = new Set((values.only ?? Object.keys(SHARES).join(',')).split(',') as Property[]);
const share = Object.entries(SHARES).filter(([p]) => only.has(p as Property));
const weight = share.reduce((sum, [, w]) => sum + w, 0);
const cases = Object.fromEntries(share.map(([p, w]) => [p, Math.max(1, Math.round((total * w) / weight))])) as Partial<Record<Property, number>>;

console.log(`fuzz: seed ${seed}, ${total} cases: ${JSON.stringify(cases)}`);
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

if (cases.validator) {
  const built = await buildValidatorTargets();
  try {
    const stats = runValidatorProperty(built.targets, { numRuns: cases.validator, seed: seedFor(seed, 'validator') });
    console.log(`validator: ${stats.cases} cases, ${stats.accepted} accepted and loaded by SEAL, ${stats.refused} refused before SEAL (${elapsed()})`);
    console.log(`validator cases by format and mutation: ${JSON.stringify(stats.byKind)}`);
  } finally {
    built.dispose();
  }
}

const rpc = ['unary', 'streams', 'garbage', 'releases'] as const;
if (rpc.some((p) => cases[p])) {
  const stats: FuzzStats = {};
  const fuzz = await startFuzzCluster({ honestCapacity: Math.min(STREAM_BATCH, cases.streams ?? 0) + 10 });
  try {
    if (cases.unary) await fuzzUnary(fuzz, { numRuns: cases.unary, seed: seedFor(seed, 'unary') }, stats);
    let honestCommitted = 0;
    for (let done = 0, batch = 1; done < (cases.streams ?? 0); batch++) {
      const size = Math.min(STREAM_BATCH, cases.streams! - done);
      if (batch > 1) fuzz.honest = await createHonestRound(fuzz.owner, size + 10, fuzz.otherParameters, batch);
      await fuzzStreams(fuzz, { numRuns: size, seed: seedFor(seed, `streams-${batch}`) }, stats);
      honestCommitted += await checkHonestRound(fuzz);
      done += size;
      console.log(`streams: ${done} of ${cases.streams} (${elapsed()}); honest round ${batch} released exactly its ${fuzz.honest.committed.length} fuzzed honest updates + 2`);
    }
    if (cases.garbage) await fuzzGarbageFrames(fuzz, { numRuns: cases.garbage, seed: seedFor(seed, 'garbage') }, stats);
    if (cases.releases) await fuzzReleases(fuzz, { numRuns: cases.releases, seed: seedFor(seed, 'releases') }, stats);
    const after = await checkAftermath(fuzz, { honestChecked: cases.streams !== undefined });
    console.log(`rpc outcomes: ${JSON.stringify(stats)}`);
    console.log(`aftermath: all processes up, no error logged, no SEAL failure; ${honestCommitted} honest streams committed; garbage round ${after.garbage}`);
  } finally {
    await fuzz.dispose();
  }
}
console.log(`fuzz: ${total} cases passed with seed ${seed} in ${elapsed()}`);
