import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { addDiscreteGaussianNoise, seededRandomSource } from '@secagg/dp';
import { applyNoiseInPlace, planNoise } from './noise.js';

describe('release noise in place', () => {
  const plan = planNoise(2, 1, 1, 10_000, false);
  const input = () => Float64Array.from({ length: 10_007 }, (_, i) => Math.sin(i) * 1.5);

  it('is bit-identical to one addDiscreteGaussianNoise over the whole vector, for any run length', () => {
    const expected = addDiscreteGaussianNoise(input(), plan.sigma, plan.gridStep, seededRandomSource('noise-in-place'));
    for (const runValues of [1, 1_000, 4_096, 10_007, 65_536]) {
      const values = input();
      applyNoiseInPlace(values, plan, seededRandomSource('noise-in-place'), runValues);
      assert.deepEqual(values, expected, `runValues ${runValues}`);
    }
    // ...and it is noise: on the grid, not the input.
    const values = input();
    applyNoiseInPlace(values, plan, seededRandomSource('other seed'));
    assert.ok(values.every((v) => Number.isInteger(v / plan.gridStep)));
    assert.notDeepEqual(values, input());
  });

  it('leaves a noise-free release untouched and refuses a bad run length', () => {
    const values = input();
    applyNoiseInPlace(values, planNoise(2, 1, 1, 10_000, true));
    assert.deepEqual(values, input());
    assert.throws(() => applyNoiseInPlace(input(), plan, seededRandomSource(1), 0), RangeError);
  });
});
