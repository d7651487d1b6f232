import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyticGaussianDelta, analyticGaussianSigma } from './analytic-gaussian.js';
import { assertClose } from './testing.js';

// Expected values from Google's differential-privacy Go library, go/noise/gaussian_noise_test.go
// (TestDeltaForGaussian, allowError 1e-10, and the thresholdGaussianTestCases whose noiseDelta
// "is chosen to get a sigma of 1"). Its deltaForGaussian is Balle & Wang 2018 Thm 8 with
// l2 sensitivity = sqrt(l0Sensitivity)·lInfSensitivity.
const GO_CASES = [
  { desc: 'Correct value calculated', sigma: 10, epsilon: 0.1, l2: 1, delta: 0.00875176814581 },
  { desc: 'non-trivial lInfSensitivity', sigma: 20, epsilon: 0.1, l2: 2, delta: 0.00875176814581 },
  { desc: 'non-trivial l0Sensitivity (l0 = 4)', sigma: 20, epsilon: 0.1, l2: 2, delta: 0.00875176814581 },
  { desc: 'typical epsilon', sigma: 10, epsilon: Math.log(3), l2: 5, delta: 0.004159742234000802 },
  { desc: 'epsilon = 0', sigma: 0.5, epsilon: 0, l2: 1, delta: 0.6826894921370859 },
  { desc: 'threshold: simple values', sigma: 1, epsilon: Math.log(3), l2: 1, delta: 0.10985556344445052 },
  { desc: 'threshold: scale lInfSensitivity', sigma: 1, epsilon: Math.log(3), l2: 0.5, delta: 0.0041597422340007885 },
  { desc: 'threshold: scale lInf and sigma', sigma: 2, epsilon: Math.log(3), l2: 2, delta: 0.10985556344445052 },
  { desc: 'threshold: scale l0Sensitivity (l0 = 2)', sigma: 1, epsilon: Math.log(3), l2: Math.SQRT2, delta: 0.26546844106038714 },
];

test('analytic Gaussian delta matches Google DP Go library values (Balle & Wang 2018, Thm 8)', () => {
  for (const c of GO_CASES) {
    const got = analyticGaussianDelta(c.epsilon, c.sigma, c.l2);
    assert.ok(Math.abs(got - c.delta) <= 1e-10, `${c.desc}: ${got} vs ${c.delta}`);
    assertClose(got, c.delta, 1e-9, c.desc);
  }
  // Degenerate cases from the same test: no noise -> delta 1; infinite epsilon -> 0.
  assert.equal(analyticGaussianDelta(1, 0, 1), 1);
  assert.equal(analyticGaussianDelta(Infinity, 1, 1), 0);
});

test('analytic Gaussian sigma inverts the Go library deltas back to the sigma they were chosen for', () => {
  for (const c of GO_CASES.filter((g) => g.desc.startsWith('threshold'))) {
    assertClose(analyticGaussianSigma(c.epsilon, c.delta, c.l2), c.sigma, 1e-9, c.desc);
  }
  assertClose(analyticGaussianSigma(0.1, 0.00875176814581, 1), 10, 1e-9);
});

test('property: sigma(epsilon, delta) meets delta and is tight to 1e-12 (as dp-accounting gaussian_mechanism_test)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1e-5, 1e-3, 0.1, 1, 10, 100),
      fc.constantFrom(1e-10, 1e-5, 0.1, 0.5, 0.9),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      (eps, delta, sens) => {
        const sigma = analyticGaussianSigma(eps, delta, sens);
        assert.ok(analyticGaussianDelta(eps, sigma, sens) <= delta);
        assert.ok(analyticGaussianDelta(eps, sigma * (1 - 1e-9), sens) > delta * (1 - 1e-6) || sigma < 1e-250);
        assertClose(analyticGaussianSigma(eps, delta, 1) * sens, sigma, 1e-10);
      },
    ),
    { numRuns: 100 },
  );
});

test('analytic sigma beats the classical sqrt(2 ln(1.25/delta))/epsilon bound (Balle & Wang 2018 §3)', () => {
  for (const eps of [0.1, 0.5, 0.9]) {
    for (const delta of [1e-3, 1e-5, 1e-9]) {
      const classical = Math.sqrt(2 * Math.log(1.25 / delta)) / eps;
      assert.ok(analyticGaussianSigma(eps, delta) < classical);
    }
  }
});

test('analytic Gaussian validation', () => {
  assert.throws(() => analyticGaussianDelta(-1, 1), RangeError);
  assert.throws(() => analyticGaussianDelta(1, -1), RangeError);
  assert.throws(() => analyticGaussianDelta(1, 1, 0), RangeError);
  assert.throws(() => analyticGaussianSigma(1, 0), RangeError);
  assert.throws(() => analyticGaussianSigma(1, 1), RangeError);
  assert.throws(() => analyticGaussianSigma(Infinity, 0.1), RangeError);
  // Tail accuracy: delta far below 1e-300 is still a finite, positive number or 0, never NaN.
  assert.ok(analyticGaussianDelta(0.5, 500, 10) >= 0);
  assert.ok(analyticGaussianDelta(0.5, 500, 10) < 1e-100);
});
