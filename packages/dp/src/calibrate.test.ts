import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { calibrateNoiseMultiplier } from './calibrate.js';
import { computeEpsilon } from './conversion.js';
import { OPACUS_RDP_ORDERS } from './orders.js';
import { computeEpsilonPld } from './pld.js';

test('Opacus get_noise_multiplier: 1.416 (90 epochs) and 1.3562 (2000 steps)', () => {
  // opacus/tests/accountants_test.py test_get_noise_multiplier_rdp_epochs / _steps:
  // epsilon 8, delta 1e-5, sample_rate 0.04, assertAlmostEqual(places=4).
  // Opacus's alphas and its (signed) fractional series; steps = int(epochs / sample_rate).
  const opts = { orders: OPACUS_RDP_ORDERS, series: 'signed' } as const;
  const z1 = calibrateNoiseMultiplier({ epsilon: 8, delta: 1e-5, samplingRate: 0.04, steps: Math.trunc(90 / 0.04) }, opts);
  assert.ok(Math.abs(z1 - 1.416) < 5e-5, `${z1}`);
  const z2 = calibrateNoiseMultiplier({ epsilon: 8, delta: 1e-5, samplingRate: 0.04, steps: 2000 }, opts);
  assert.ok(Math.abs(z2 - 1.3562) < 5e-5, `${z2}`);
});

test('property: calibration round-trips (epsilon(z) <= target, within tolerance) — Opacus overshoot test', () => {
  // As opacus test_get_noise_multiplier_overshoot, with the default (dp-accounting) orders.
  fc.assert(
    fc.property(
      fc.double({ min: 1, max: 10, noNaN: true }),
      fc.integer({ min: 10, max: 100 }),
      fc.constantFrom(1e-3, 1e-2, 5e-2, 1e-1),
      fc.constantFrom(1e-4, 1e-5, 1e-6),
      fc.constantFrom(0.01, 0.1),
      (epsilon, epochs, samplingRate, delta, tolerance) => {
        const steps = Math.trunc(epochs / samplingRate);
        const z = calibrateNoiseMultiplier({ epsilon, delta, samplingRate, steps }, { epsilonTolerance: tolerance });
        const got = computeEpsilon([{ noiseMultiplier: z, samplingRate, steps }], delta).epsilon;
        assert.ok(got <= epsilon, `epsilon(z) = ${got} > ${epsilon}`);
        assert.ok(epsilon - got <= tolerance, `epsilon(z) = ${got} not within ${tolerance} of ${epsilon}`);
      },
    ),
    { numRuns: 12 },
  );
});

test('PLD calibration: dp-accounting accountant_test.py test_get_smallest_subsampled_gaussian_noise', () => {
  // get_smallest_subsampled_gaussian_noise((1, 1e-5), 1 query, sensitivity 1, sampling_prob 0.01) = 0.67379294682,
  // and (25 queries, sensitivity 6, sampling_prob 0.001) = 3.20956502598, i.e. z = 0.53492750433.
  for (const [steps, samplingRate, want] of [[1, 0.01, 0.67379294682], [25, 0.001, 3.20956502598 / 6]] as const) {
    const z = calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate, steps }, { accountant: 'pld', epsilonTolerance: 1e-4 });
    assert.ok(Math.abs(z - want) < 1e-3 * want, `z = ${z}, dp-accounting ${want}`);
    assert.ok(computeEpsilonPld([{ noiseMultiplier: z, samplingRate, steps }], 1e-5).epsilon <= 1);
    const rdp = calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate, steps }, { epsilonTolerance: 1e-4 });
    assert.ok(z < rdp, `PLD needs less noise than RDP (${z} vs ${rdp})`);
  }
  assert.throws(() => calibrateNoiseMultiplier({ epsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 1 }, { accountant: 'prv' as 'pld' }), /accountant/);
});

test('calibration validation and an unreachable budget', () => {
  const ok = { epsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 100 };
  assert.throws(() => calibrateNoiseMultiplier({ ...ok, epsilon: 0 }), RangeError);
  assert.throws(() => calibrateNoiseMultiplier({ ...ok, delta: 1 }), RangeError);
  assert.throws(() => calibrateNoiseMultiplier({ ...ok, samplingRate: 0 }), RangeError);
  assert.throws(() => calibrateNoiseMultiplier({ ...ok, steps: 0 }), RangeError);
  assert.throws(() => calibrateNoiseMultiplier(ok, { epsilonTolerance: 0 }), RangeError);
  assert.throws(
    () => calibrateNoiseMultiplier({ epsilon: 1e-4, delta: 1e-5, samplingRate: 1, steps: 1_000_000 }),
    /budget too low/,
  );
});
