import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { addDiscreteGaussianNoise, gridVariance, roundedL2Sensitivity } from './release.js';
import { seededRandomSource } from './rng.js';

test('gridVariance is exact when it fits, and rounds up by < 2^-42 otherwise', () => {
  // σ = 1, step = 2^-20: exactly 2^40 grid units².
  assert.deepEqual(gridVariance(1, 2 ** -20), { num: 1n << 40n, den: 1n });
  assert.deepEqual(gridVariance(0.5, 1), { num: 1n, den: 4n });
  // σ = 0.3, step = 0.001: the exact ratio of the doubles, squared, is a huge fraction.
  const v = gridVariance(0.3, 0.001);
  const ratio = Number(v.num) / Number(v.den);
  assert.ok(ratio >= (0.3 / 0.001) ** 2 * (1 - 1e-15));
  assert.ok(Math.abs(ratio / 90000 - 1) < 1e-12);
  assert.ok(v.num < 1n << 45n);
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => gridVariance(bad, 1), RangeError);
    assert.throws(() => gridVariance(1, bad), RangeError);
  }
});

test('addDiscreteGaussianNoise: outputs on the grid, centred on the quantised input, std = sigma', () => {
  const n = 200_000;
  const step = 2 ** -10;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = Math.sin(i) * 3;
  const sigma = 0.05; // 51.2 grid units
  const out = addDiscreteGaussianNoise(values, sigma, step, seededRandomSource('release'));
  assert.equal(out.length, n);
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const k = out[i]! / step;
    assert.ok(Number.isInteger(k), `output ${out[i]} is not on the grid`);
    const noise = k - Math.round(values[i]! / step);
    sum += noise;
    sumSq += noise * noise;
  }
  const mean = sum / n;
  const sd = Math.sqrt(sumSq / n - mean * mean) * step;
  assert.ok(Math.abs(mean) < 5 * Math.sqrt((sigma / step) ** 2 / n), `mean noise ${mean}`);
  assert.ok(Math.abs(sd / sigma - 1) < 0.01, `std ${sd}`);
});

test('addDiscreteGaussianNoise is deterministic for a seeded source and validates input', () => {
  const values = Float64Array.from([1, 2.5, -3.25, 1e6, 0]);
  const a = addDiscreteGaussianNoise(values, 1, 0.25, seededRandomSource('d'));
  const b = addDiscreteGaussianNoise(values, 1, 0.25, seededRandomSource('d'));
  assert.deepEqual(a, b);
  assert.throws(() => addDiscreteGaussianNoise(Float64Array.from([NaN]), 1, 1, seededRandomSource(1)), RangeError);
  assert.throws(() => addDiscreteGaussianNoise(values, 0, 1, seededRandomSource(1)), RangeError);
  assert.throws(() => addDiscreteGaussianNoise(values, 1, -1, seededRandomSource(1)), RangeError);
  assert.equal(addDiscreteGaussianNoise(new Float64Array(0), 1, 1, seededRandomSource(1)).length, 0);
});

test('large aggregates beyond 2^53 grid units are combined exactly in bigint', () => {
  // 2^60 grid units: q + y is not a safe integer; the result is the nearest double to (q + y)·step.
  const out = addDiscreteGaussianNoise(Float64Array.from([2 ** 60]), 4, 1, seededRandomSource('big'));
  assert.ok(Math.abs(out[0]! - 2 ** 60) <= 4 * 64 + 256);
});

test('roundedL2Sensitivity adds gridStep·sqrt(dimension)', () => {
  assert.equal(roundedL2Sensitivity(1, 2 ** -10, 1_000_000), 1 + 1000 / 1024);
  assert.equal(roundedL2Sensitivity(2, 1, 0), 2);
  assert.throws(() => roundedL2Sensitivity(1, 1, -1), RangeError);
  assert.throws(() => roundedL2Sensitivity(-1, 1, 1), RangeError);
});
