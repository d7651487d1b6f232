import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { cryptoRandomSource, seededRandomSource } from './rng.js';
import { chiSquare, chiSquareCritical } from './testing.js';

test('seeded source is deterministic per seed and differs across seeds', () => {
  const a = seededRandomSource('alpha');
  const b = seededRandomSource('alpha');
  const c = seededRandomSource('beta');
  const xs = Array.from({ length: 100 }, () => a.randomBelow(1n << 64n));
  const ys = Array.from({ length: 100 }, () => b.randomBelow(1n << 64n));
  const zs = Array.from({ length: 100 }, () => c.randomBelow(1n << 64n));
  assert.deepEqual(xs, ys);
  assert.notDeepEqual(xs, zs);
  // Numbers and their decimal strings are the same seed.
  assert.equal(seededRandomSource(7).randomBelow(1000n), seededRandomSource('7').randomBelow(1000n));
});

test('randomBelowSafe(n) and randomBelow(BigInt(n)) consume the stream identically', () => {
  const bounds = [1, 2, 3, 5, 255, 256, 257, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 41, 2 ** 53 - 1, 1e15 + 7];
  const a = seededRandomSource('same');
  const b = seededRandomSource('same');
  for (let round = 0; round < 200; round++) {
    for (const n of bounds) {
      const x = a.randomBelowSafe!(n);
      const y = b.randomBelow(BigInt(n));
      assert.equal(BigInt(x), y);
      assert.ok(x >= 0 && x < n && Number.isSafeInteger(x));
    }
  }
});

test('randomBelow(1) consumes nothing', () => {
  const a = seededRandomSource('one');
  const b = seededRandomSource('one');
  for (let i = 0; i < 10; i++) assert.equal(a.randomBelow(1n), 0n);
  assert.equal(a.randomBelow(1n << 40n), b.randomBelow(1n << 40n));
});

test('randomBelow rejects n < 1 and non-integers', () => {
  const r = seededRandomSource(1);
  assert.throws(() => r.randomBelow(0n), RangeError);
  assert.throws(() => r.randomBelow(-5n), RangeError);
  assert.throws(() => r.randomBelowSafe!(0), RangeError);
  assert.throws(() => r.randomBelowSafe!(2.5), RangeError);
  assert.throws(() => r.randomBelowSafe!(2 ** 53), RangeError);
});

function uniformityStat(draw: () => number, buckets: number, samples: number): number {
  const counts = new Array<number>(buckets).fill(0);
  for (let i = 0; i < samples; i++) counts[draw()]!++;
  return chiSquare(counts, new Array<number>(buckets).fill(1 / buckets), samples);
}

test('seeded randomBelow is uniform (chi-square, small, 2^32+-1 and > 2^53 bounds)', () => {
  const r = seededRandomSource('uniform');
  const crit = (k: number) => chiSquareCritical(k - 1);
  // n = 6: direct.
  assert.ok(uniformityStat(() => r.randomBelowSafe!(6), 6, 60_000) < crit(6));
  // n = 2^32 + 1 (two words, 33 bits): 16 equal-width buckets.
  const n1 = 2 ** 32 + 1;
  assert.ok(uniformityStat(() => Math.floor((r.randomBelowSafe!(n1) / n1) * 16), 16, 60_000) < crit(16));
  // n = 3·2^60 (bigint path): 12 equal buckets of 2^58.
  const n2 = 3n << 60n;
  assert.ok(uniformityStat(() => Number(r.randomBelow(n2) >> 58n), 12, 60_000) < crit(12));
  // Range for the big path.
  for (let i = 0; i < 1000; i++) {
    const x = r.randomBelow(n2);
    assert.ok(x >= 0n && x < n2);
  }
});

test('crypto source: values in range and not degenerate', () => {
  const r = cryptoRandomSource();
  // A p = 1e-9 threshold keeps this from ever flaking while catching a broken source.
  const stat = uniformityStat(() => r.randomBelowSafe!(10), 10, 50_000);
  assert.ok(stat < chiSquareCritical(9, 6.0), `chi-square ${stat}`);
  const seen = new Set<bigint>();
  for (let i = 0; i < 100; i++) seen.add(r.randomBelow(1n << 100n));
  assert.equal(seen.size, 100);
});
