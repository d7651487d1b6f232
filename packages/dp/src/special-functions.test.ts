import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { erf, erfc, erfcx, logErfc, logNormalCdf, normalCdf } from './special-functions.js';
import { rationalFromNumber } from './rational.js';
import { isqrt } from './rational.js';

/** π·10^P by Machin's formula π = 16·atan(1/5) − 4·atan(1/239), in fixed point. */
function piFixed(P: number): bigint {
  const S = 10n ** BigInt(P + 10);
  const atanInv = (k: bigint): bigint => {
    let sum = 0n;
    let power = S / k; // S / k^(2n+1)
    for (let n = 0n; power !== 0n; n++) {
      const term = power / (2n * n + 1n);
      sum += n % 2n === 0n ? term : -term;
      power /= k * k;
    }
    return sum;
  };
  return (16n * atanInv(5n) - 4n * atanInv(239n)) / 10n ** 10n;
}

/**
 * erfc(x) for a double x, evaluated independently of the code under test:
 * erf(x) = (2/√π) Σ (−1)ⁿ x^{2n+1}/(n!(2n+1)) (A&S 7.1.5) in bigint fixed point
 * with enough digits to absorb the cancellation (the terms reach e^{x²}).
 * Returns erfc(x) as [numerator, 10^P].
 */
function erfcExact(x: number): [bigint, bigint] {
  const P = Math.ceil(0.87 * x * x) + 40;
  const S = 10n ** BigInt(P);
  const { num: a, den: b } = rationalFromNumber(x);
  const a2 = a * a;
  const b2 = b * b;
  let p = (S * a) / b; // S·x^{2n+1}/n!
  let sum = 0n;
  for (let n = 0n; p !== 0n; n++) {
    const term = p / (2n * n + 1n);
    sum += n % 2n === 0n ? term : -term;
    p = (p * a2) / (b2 * (n + 1n));
  }
  const sqrtPi = isqrt(piFixed(P) * S); // √π·S
  const erfS = (2n * sum * S) / sqrtPi;
  return [S - erfS, S];
}

function relErr(got: number, [num, den]: [bigint, bigint]): number {
  // |got − num/den| / (num/den), computed on exact rationals and then rounded.
  const g = rationalFromNumber(got);
  const diff = g.num * den - num * g.den;
  const scale = num * g.den;
  const absDiff = diff < 0n ? -diff : diff;
  if (absDiff === 0n) return 0;
  // Ratio of two bigints as a double without overflow.
  const shift = BigInt(Math.max(0, scale.toString(2).length - 1000));
  return Number(absDiff >> shift) / Number(scale >> shift);
}

test('erfc matches an exact bigint evaluation of the series to < 2e-15 relative on [-6, 27]', () => {
  for (const x of [-6, -3.3, -1, -0.7, -0.25, 0, 1e-8, 0.2, 0.5, 0.9, 1, 1.2, 1.7, 2.5, 3.9, 5, 8.3, 12, 20, 26.5]) {
    const e = relErr(erfc(x), erfcExact(x));
    assert.ok(e < 2e-15, `erfc(${x}): relative error ${e}`);
  }
});

test('erfcx, logErfc agree with erfc and with the asymptotic series in the far tail', () => {
  for (const x of [1.5, 4, 10, 26]) {
    const rel = Math.abs(erfcx(x) * Math.exp(-x * x) - erfc(x)) / erfc(x);
    assert.ok(rel < 1e-13, `erfcx(${x})`);
    assert.ok(Math.abs(logErfc(x) - Math.log(erfc(x))) < 1e-13 * Math.abs(Math.log(erfc(x))) + 1e-15);
  }
  // A&S 7.1.23: erfc(x) ~ e^{−x²}/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸) − …);
  // at x ≥ 50 the first omitted term is < 1e-15.
  for (const x of [50, 100, 1000]) {
    const series = 1 - 1 / (2 * x * x) + 3 / (4 * x ** 4) - 15 / (8 * x ** 6) + 105 / (16 * x ** 8);
    const want = -x * x - Math.log(x * Math.sqrt(Math.PI)) + Math.log(series);
    assert.ok(Math.abs(logErfc(x) - want) < 1e-12 * Math.abs(want), `logErfc(${x}) = ${logErfc(x)} vs ${want}`);
    assert.ok(Math.abs(erfcx(x) * x * Math.sqrt(Math.PI) - series) < 1e-14);
  }
  assert.equal(logErfc(Infinity), -Infinity);
  assert.ok(Math.abs(logErfc(-30) - Math.log(2)) < 1e-15);
});

test('normal CDF: symmetry, centre, and log in the tails', () => {
  assert.equal(normalCdf(0), 0.5);
  for (const x of [0.1, 1, 2.5, 6, 12]) {
    assert.ok(Math.abs(normalCdf(x) + normalCdf(-x) - 1) < 1e-15);
    assert.ok(Math.abs(erf(x / Math.SQRT2) - (normalCdf(x) - normalCdf(-x))) < 1e-15);
  }
  // log Φ(−40) = log erfc(40/√2) − log 2, and exp of it matches Φ where Φ is representable.
  assert.ok(Math.abs(logNormalCdf(-40) - (logErfc(40 / Math.SQRT2) - Math.log(2))) < 1e-12);
  for (const x of [-30, -10, -1, 0, 1, 5, 8]) {
    assert.ok(Math.abs(Math.exp(logNormalCdf(x)) / normalCdf(x) - 1) < 1e-13, `x=${x}`);
  }
  assert.ok(Number.isFinite(logNormalCdf(-1e4)));
});
