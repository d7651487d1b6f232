/**
 * Exactly once under crashes: the chaos harness (packages/chaos) SIGKILLs a
 * randomly chosen process — Redis (shipped config), keyholder, gateway, either
 * aggregator — at random moments while signed clients upload with retries,
 * then checks the noise-free release update by update and against the
 * plaintext sum of the acknowledged updates.
 *
 * The seed is printed; replay a failure with CHAOS_SEED=<seed> (or
 * `npm run chaos -- --seed <seed> --faults 20 --clients 20 --length 9000`).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ABS_ERROR, chaosJsonLine, randomSeed, runChaos } from '@secagg/chaos';

describe('exactly once under SIGKILL of any service and of Redis', { timeout: 600_000 }, () => {
  it('20 faults over 20 clients: nothing lost, duplicated or partial; the sum matches the acknowledged updates', async (t) => {
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) >>> 0 : randomSeed();
    console.log(`chaos seed ${seed} (replay: CHAOS_SEED=${seed})`);
    t.diagnostic(`chaos seed ${seed}`);
    const report = await runChaos({
      faults: 20,
      clients: 20,
      length: 9_000, // three coefficient-encoded ciphertexts per update: partial inclusion is visible
      seed,
      maxGapMs: 400,
      log: (line) => console.log(`[chaos ${seed}] ${line}`),
    });
    console.log(chaosJsonLine(report));
    assert.ok(report.ok, `seed ${seed}: ${report.problems.join('; ')}`);
    assert.equal(report.faults, 20);
    assert.equal(report.acknowledged, 20);
    assert.equal(report.folded, 20);
    assert.equal(report.lost, 0);
    assert.equal(report.duplicated, 0);
    assert.equal(report.partial, 0);
    assert.ok(report.max_abs_error !== null && report.max_abs_error <= MAX_ABS_ERROR, `max_abs_error ${report.max_abs_error}`);
    t.diagnostic(`faults by target: ${JSON.stringify(report.details.faultsByTarget)}; ${report.details.faultsDuringUploads} with uploads in flight`);
  });
});
