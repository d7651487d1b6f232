import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deltaFromZcdp, epsilonFromZcdp, zcdpDiscreteGaussian } from './zcdp.js';
import { epsilonFromRdp } from './conversion.js';
import { analyticGaussianDelta } from './analytic-gaussian.js';

test('rho = Delta^2 / (2 sigma^2) (CKS20 Thm 4 / Thm 15)', () => {
  assert.equal(zcdpDiscreteGaussian(1, 1), 0.5);
  assert.equal(zcdpDiscreteGaussian(2, 4), 0.125);
  assert.equal(zcdpDiscreteGaussian(0, 4), 0);
  assert.throws(() => zcdpDiscreteGaussian(1, 0), RangeError);
  assert.throws(() => zcdpDiscreteGaussian(-1, 1), RangeError);
});

const rhoArb = fc.double({ min: 1e-5, max: 20, noNaN: true });
const deltaArb = fc.constantFrom(1e-3, 1e-6, 1e-9, 1e-12);

test('property: zCDP epsilon is below Bun–Steinke rho + 2 sqrt(rho log 1/delta) and inverts deltaFromZcdp', () => {
  fc.assert(
    fc.property(rhoArb, deltaArb, (rho, delta) => {
      const eps = epsilonFromZcdp(rho, delta);
      assert.ok(eps <= rho + 2 * Math.sqrt(rho * Math.log(1 / delta)));
      assert.ok(deltaFromZcdp(rho, eps) <= delta * (1 + 1e-9));
      assert.ok(deltaFromZcdp(rho, eps * (1 - 1e-6)) > delta);
    }),
    { numRuns: 100 },
  );
});

test('property: zCDP conversion = improved RDP conversion of alpha·rho, minimised over alpha', () => {
  const orders = Array.from({ length: 20000 }, (_, i) => 1.011 + i * 0.01);
  fc.assert(
    fc.property(fc.double({ min: 0.001, max: 2, noNaN: true }), deltaArb, (rho, delta) => {
      const eps = epsilonFromZcdp(rho, delta);
      const grid = epsilonFromRdp(orders.map((a) => a * rho), orders, delta).epsilon;
      assert.ok(eps <= grid * (1 + 1e-9), `${eps} > ${grid}`);
      assert.ok(eps >= grid * (1 - 1e-3), `${eps} << ${grid}`);
    }),
    { numRuns: 30 },
  );
});

test('zCDP bound is never tighter than the exact (analytic) Gaussian guarantee', () => {
  for (const sigma of [0.5, 1, 3, 10, 100]) {
    for (const delta of [1e-3, 1e-6, 1e-10]) {
      const eps = epsilonFromZcdp(zcdpDiscreteGaussian(1, sigma), delta);
      assert.ok(analyticGaussianDelta(eps, sigma) <= delta);
    }
  }
});

test('zCDP edge cases', () => {
  assert.equal(epsilonFromZcdp(0, 1e-5), 0);
  assert.equal(deltaFromZcdp(0, 1), 0);
  assert.equal(deltaFromZcdp(1, Infinity), 0);
  assert.throws(() => epsilonFromZcdp(1, 0), RangeError);
  assert.throws(() => epsilonFromZcdp(-1, 0.1), RangeError);
  assert.throws(() => deltaFromZcdp(1, -1), RangeError);
});
