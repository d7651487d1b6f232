/**
 * Exact rationals (bigint numerator / denominator) for configuring the exact
 * samplers, and the conversions from IEEE-754 doubles into them. Everything
 * here is setup: it runs once per release, never per sample.
 *
 * @module
 */

/** An exact rational num/den. Functions here return it reduced with den > 0. */
export interface Rational {
  num: bigint;
  den: bigint;
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Greatest common divisor of |a| and |b| (gcd(0, 0) = 0). */
export function gcd(a: bigint, b: bigint): bigint {
  a = abs(a);
  b = abs(b);
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** num/den in lowest terms with a positive denominator. */
export function reduceRational(r: Rational): Rational {
  if (r.den === 0n) throw new RangeError('denominator must not be zero');
  const sign = r.den < 0n ? -1n : 1n;
  const g = gcd(r.num, r.den);
  return { num: (sign * r.num) / g, den: (sign * r.den) / g };
}

/** ⌊√n⌋ for n ≥ 0 (Newton's method on bigints). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt of a negative number');
  if (n < 2n) return n;
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1); // ≥ √n
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Number of bits of |n| (0 for 0). */
export function bitLength(n: bigint): number {
  return n === 0n ? 0 : abs(n).toString(2).length;
}

/** The exact value of a finite double as a reduced rational (den a power of two). */
function exactRational(x: number): Rational {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const exponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (exponent === 0) {
    e = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    e = exponent - 1075;
  }
  // x = ±mantissa · 2^e
  const num = negative ? -mantissa : mantissa;
  const r = e >= 0 ? { num: num << BigInt(e), den: 1n } : { num, den: 1n << BigInt(-e) };
  return reduceRational(r);
}

/**
 * Best approximations of P/Q (> 0, reduced) from below and above with
 * denominator ≤ maxDen, by walking the Stern–Brocot tree in runs (the
 * continued-fraction convergents and semiconvergents).
 */
function bracket(P: bigint, Q: bigint, maxDen: bigint): { lo: Rational; hi: Rational } {
  const a0 = P / Q;
  let lo = { num: a0, den: 1n };
  let hi = { num: a0 + 1n, den: 1n };
  for (;;) {
    const mDen = lo.den + hi.den;
    if (mDen > maxDen) return { lo, hi };
    const mNum = lo.num + hi.num;
    // A = P·lo.den − lo.num·Q > 0 (lo < X), B = hi.num·Q − P·hi.den > 0 (hi > X).
    const A = P * lo.den - lo.num * Q;
    const B = hi.num * Q - P * hi.den;
    if (mNum * Q < P * mDen) {
      // Mediant below X: move lo towards X as far as possible.
      let k = (A - 1n) / B; // largest k with lo + k·hi < X
      const kDen = (maxDen - lo.den) / hi.den;
      if (kDen < k) k = kDen;
      lo = { num: lo.num + k * hi.num, den: lo.den + k * hi.den };
    } else {
      // Mediant above X (it cannot equal X: its denominator is < Q).
      let k = (B - 1n) / A; // largest k with hi + k·lo > X
      const kDen = (maxDen - hi.den) / lo.den;
      if (kDen < k) k = kDen;
      hi = { num: hi.num + k * lo.num, den: hi.den + k * lo.den };
    }
  }
}

/**
 * Converts a finite double to an exact rational.
 *
 * Without `maxDenominator` the result is the double's exact value (every
 * double is m·2^e, so the denominator is a power of two): `rationalFromNumber(0.1)`
 * is 3602879701896397/36028797018963968, not 1/10.
 *
 * With `maxDenominator` the result is the smallest rational ≥ x whose
 * denominator is ≤ maxDenominator (x itself if it qualifies). Rounding up is
 * the conservative direction for a noise variance: the noise never shrinks.
 * `rationalFromNumber(0.25, 1000n)` is 1/4, but `rationalFromNumber(0.1, 1000n)`
 * is 100/999: the double 0.1 is 0.1000000000000000055…, just above 1/10.
 *
 * Use it to configure σ² outside the sampling path.
 *
 * @throws RangeError for NaN/±∞, or maxDenominator < 1.
 */
export function rationalFromNumber(x: number, maxDenominator?: bigint): Rational {
  if (!Number.isFinite(x)) throw new RangeError(`cannot convert ${x} to a rational`);
  const exact = exactRational(x);
  if (maxDenominator === undefined || exact.den <= maxDenominator) return exact;
  if (maxDenominator < 1n) throw new RangeError('maxDenominator must be >= 1');
  if (exact.num >= 0n) return bracket(exact.num, exact.den, maxDenominator).hi;
  // x < 0: the smallest rational ≥ x is minus the largest rational ≤ |x|.
  const { lo } = bracket(-exact.num, exact.den, maxDenominator);
  return reduceRational({ num: -lo.num, den: lo.den });
}

/**
 * The smallest rational ≥ r of the form N/2^k (k ≥ 0) with N < 2^numeratorBits,
 * or r itself if its numerator and denominator already fit in that many bits;
 * for r ≥ 2^numeratorBits it is ⌈r⌉. Used to give the fast sampler small
 * integers while never lowering σ² (relative increase ≤ 2^{2−numeratorBits}).
 */
export function roundUpDyadic(r: Rational, numeratorBits: number): Rational {
  const x = reduceRational(r);
  if (x.num <= 0n) throw new RangeError('roundUpDyadic needs a positive rational');
  const limit = 1n << BigInt(numeratorBits);
  if (x.num < limit && x.den < limit) return x;
  // Choose k so that ⌈x·2^k⌉ lands in [2^(bits−2), 2^bits).
  const k = numeratorBits - 1 - (bitLength(x.num) - bitLength(x.den));
  if (k <= 0) return { num: (x.num + x.den - 1n) / x.den, den: 1n };
  const N = ((x.num << BigInt(k)) + x.den - 1n) / x.den;
  return reduceRational({ num: N, den: 1n << BigInt(k) });
}
