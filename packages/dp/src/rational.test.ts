import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { gcd, isqrt, rationalFromNumber, reduceRational, roundUpDyadic } from './rational.js';

test('rationalFromNumber is exact', () => {
  assert.deepEqual(rationalFromNumber(0.5), { num: 1n, den: 2n });
  assert.deepEqual(rationalFromNumber(3), { num: 3n, den: 1n });
  assert.deepEqual(rationalFromNumber(-0.75), { num: -3n, den: 4n });
  assert.deepEqual(rationalFromNumber(0), { num: 0n, den: 1n });
  // 0.1 is the double 3602879701896397 / 2^55.
  assert.deepEqual(rationalFromNumber(0.1), { num: 3602879701896397n, den: 1n << 55n });
  assert.deepEqual(rationalFromNumber(5e-324), { num: 1n, den: 1n << 1074n });
  assert.deepEqual(rationalFromNumber(2 ** 60), { num: 1n << 60n, den: 1n });
  assert.deepEqual(rationalFromNumber(Number.MAX_VALUE), { num: ((1n << 53n) - 1n) << 971n, den: 1n });
  for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => rationalFromNumber(bad), RangeError);
});

test('rationalFromNumber round-trips every double exactly', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
      const r = rationalFromNumber(x);
      // num/den == x exactly  <=>  num == x·den, checked in bigint via x's own rational.
      assert.equal(gcd(r.num, r.den), r.num === 0n ? r.den : 1n);
      const back = Number(r.num) / Number(r.den);
      if (Number.isFinite(back) && r.den < 1n << 1000n && (r.num < 0n ? -r.num : r.num) < 1n << 1000n) {
        assert.equal(back, x === 0 ? 0 : x);
      }
    }),
    { numRuns: 500 },
  );
});

test('rationalFromNumber with maxDenominator: smallest fraction >= x (examples)', () => {
  assert.deepEqual(rationalFromNumber(0.25, 1000n), { num: 1n, den: 4n });
  // The double 0.1 is slightly above 1/10, so the answer is the next Farey neighbour.
  assert.deepEqual(rationalFromNumber(0.1, 1000n), { num: 100n, den: 999n });
  assert.deepEqual(rationalFromNumber(Math.PI, 1000n), { num: 355n, den: 113n });
  assert.deepEqual(rationalFromNumber(2.5, 1n), { num: 3n, den: 1n });
  assert.deepEqual(rationalFromNumber(-2.5, 1n), { num: -2n, den: 1n });
});

test('rationalFromNumber with maxDenominator matches brute force', () => {
  fc.assert(
    fc.property(
      fc.double({ min: -1000, max: 1000, noNaN: true }),
      fc.integer({ min: 1, max: 400 }),
      (x, maxDen) => {
        const exact = rationalFromNumber(x);
        const got = rationalFromNumber(x, BigInt(maxDen));
        // Brute force: for each q, the smallest p with p/q >= x is ceil(x·q).
        let best: { num: bigint; den: bigint } | undefined;
        for (let q = 1n; q <= BigInt(maxDen); q++) {
          const t = exact.num * q;
          let p = t / exact.den;
          if (p * exact.den < t) p += 1n; // ceil for positive remainders
          if (!best || p * best.den < best.num * q) best = { num: p, den: q };
        }
        const want = reduceRational(best!);
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 200 },
  );
});

test('isqrt is the integer square root', () => {
  for (const n of [0n, 1n, 2n, 3n, 4n, 15n, 16n, 17n, (1n << 106n) - 1n, 1n << 106n, 10n ** 40n + 12345n]) {
    const r = isqrt(n);
    assert.ok(r * r <= n && (r + 1n) * (r + 1n) > n, `isqrt(${n}) = ${r}`);
  }
});

test('roundUpDyadic never rounds down and keeps the numerator small', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: 1n << 200n }), fc.bigInt({ min: 1n, max: 1n << 200n }), (num, den) => {
      const x = reduceRational({ num, den });
      const r = roundUpDyadic(x, 44);
      assert.ok(r.num * x.den >= x.num * r.den, 'rounded value must be >= input');
      // relative increase <= 2^-42
      assert.ok((r.num * x.den - x.num * r.den) * (1n << 42n) <= x.num * r.den);
      const exact = x.num < 1n << 44n && x.den < 1n << 44n;
      if (!exact && x.num >= x.den << 44n) {
        assert.equal(r.den, 1n);
      } else if (!exact) {
        assert.ok(r.num < 1n << 44n + 1n);
        assert.equal(r.den & (r.den - 1n), 0n, 'denominator is a power of two');
      }
    }),
    { numRuns: 300 },
  );
  assert.deepEqual(roundUpDyadic({ num: 3n, den: 7n }, 44), { num: 3n, den: 7n });
});
