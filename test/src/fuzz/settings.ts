/**
 * Fuzz seeds and case counts. CI runs a fixed budget with a fresh seed each
 * time and prints it; `SECAGG_FUZZ_SEED` (or `npm run fuzz -- --seed S`)
 * replays a run exactly.
 */

/** The seed of this run: SECAGG_FUZZ_SEED when set, else a fresh one. */
export function fuzzSeed(): number {
  const fixed = process.env.SECAGG_FUZZ_SEED;
  if (fixed !== undefined && fixed !== '') {
    const seed = Number(fixed);
    if (!Number.isSafeInteger(seed)) throw new Error(`SECAGG_FUZZ_SEED must be an integer, got ${fixed}`);
    return seed | 0;
  }
  return (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
}

/** A per-property seed derived from the run's seed, so each property is replayable on its own. */
export function seedFor(runSeed: number, property: string): number {
  let h = runSeed | 0;
  for (let i = 0; i < property.length; i++) h = Math.imul(h ^ property.charCodeAt(i), 0x01000193);
  return h | 0;
}
