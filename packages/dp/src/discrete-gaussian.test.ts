import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  DiscreteGaussianSampler,
  planDiscreteGaussian,
  sampleDiscreteGaussian,
  sampleDiscreteGaussianReference,
} from './discrete-gaussian.js';
import { seededRandomSource } from './rng.js';
import type { Rational } from './rational.js';
import { chiSquare, chiSquareCritical, scriptedSource } from './testing.js';

/** Exact-enough pmf of N_Z(0, σ²) on [−cut, cut] (floating point is fine in a test). */
function pmf(sigma2: number, cut: number): { probs: Map<number, number>; variance: number; fourth: number } {
  let z = 0;
  const w = new Map<number, number>();
  for (let y = -cut; y <= cut; y++) {
    const v = Math.exp(-(y * y) / (2 * sigma2));
    w.set(y, v);
    z += v;
  }
  let variance = 0;
  let fourth = 0;
  const probs = new Map<number, number>();
  for (const [y, v] of w) {
    const p = v / z;
    probs.set(y, p);
    variance += p * y * y;
    fourth += p * y ** 4;
  }
  return { probs, variance, fourth };
}

test('plan: tau = sigma^2/m with integer centre m for sigma >= 1, tau = 1 below', () => {
  // σ² = 1: m = 1, τ = 1, γ = (a − 1)²/2.
  assert.deepEqual(planDiscreteGaussian({ num: 1n, den: 1n }), { t: 1n, s: 1n, A: 1n, B: 1n, E: 1n, F: 2n });
  // σ = 2^20: m = 2^20, τ = 2^20, γ = (a − 2^20)²/2^41.
  assert.deepEqual(planDiscreteGaussian({ num: 1n << 40n, den: 1n }), {
    t: 1n << 20n, s: 1n, A: 1n, B: 1n << 20n, E: 1n, F: 1n << 41n,
  });
  // σ² = 1000 (σ ≈ 31.62): m = 32, τ = 1000/32 = 125/4, γ = (a − 32)²/2000.
  assert.deepEqual(planDiscreteGaussian({ num: 1000n, den: 1n }), { t: 125n, s: 4n, A: 1n, B: 32n, E: 1n, F: 2000n });
  // σ² = 1/4: τ = 1, γ = (4a − 1)²/8.
  assert.deepEqual(planDiscreteGaussian({ num: 1n, den: 4n }), { t: 1n, s: 1n, A: 4n, B: 1n, E: 1n, F: 8n });
  assert.throws(() => planDiscreteGaussian({ num: 0n, den: 1n }), RangeError);
  assert.throws(() => planDiscreteGaussian({ num: -1n, den: 1n }), RangeError);
});

test('fixed random outputs give the exact integer derived by hand (sigma^2 = 1)', () => {
  // Plan for σ² = 1: Laplace scale 1 (t = s = 1, so U = 0 and exp(−U/t) = 1 draw nothing),
  // acceptance exp(−(|y| − 1)²/2).
  // Proposal 1: V loop: draw(2)=1 stops Bernoulli(e^-1) at K=2 (false) -> V=0, y=0;
  //   sign draw(2)=1 -> positive; accept: γ = 1/2: draw(2)=0 <1 ok (K=2),
  //   draw(2)=1 stops at K=2 -> reject.
  // Proposal 2: V loop: draw(2)=0, draw(3)=2 -> K=3 (true) so V=1; draw(2)=1 -> false.
  //   y = 1; sign draw(2)=0 -> negative -> −1; γ = 0 -> accept without drawing.
  const script = [[2n, 1n], [2n, 1n], [2n, 0n], [2n, 1n], [2n, 0n], [3n, 2n], [2n, 1n], [2n, 0n]] as const;
  const fast = scriptedSource(script);
  assert.equal(sampleDiscreteGaussian({ num: 1n, den: 1n }, fast), -1n);
  fast.done();
  const ref = scriptedSource(script);
  assert.equal(sampleDiscreteGaussianReference({ num: 1n, den: 1n }, ref), -1n);
  ref.done();
});

test('fixed random outputs give an exact integer beyond 2^53 (sigma^2 = 2^120)', () => {
  // Plan: τ = 2^60 (t = 2^60, s = 1), centre m = 2^60, γ = (a − 2^60)²/2^121.
  const U = 123456789012345678n; // > 2^53: not representable as a double
  const script = [
    [1n << 60n, U], // U
    [1n << 60n, 1n << 59n], // Bernoulli(U/2^60) fails at K=1 -> exp(−U/t) accepted
    [2n, 1n], // V loop: Bernoulli(e^-1) fails -> V = 0
    [2n, 1n], // sign: positive
    [1n << 121n, 1n << 120n], // Bernoulli(γ) with γ < 1/2 fails at K=1 -> accept
  ] as const;
  const rng = scriptedSource(script);
  const sampler = new DiscreteGaussianSampler({ num: 1n << 120n, den: 1n }, rng);
  assert.equal(sampler.fastPath, false);
  assert.equal(sampler.sample(), U);
  rng.done();
});

test('fast (double) path equals the bigint reference draw for draw', () => {
  const cases: Rational[] = [
    { num: 1n, den: 4n }, // σ = 0.5
    { num: 1n, den: 1n },
    { num: 2n, den: 1n },
    { num: 7n, den: 3n },
    { num: 1000n, den: 1n },
    { num: 1n << 40n, den: 1n }, // σ = 2^20
    { num: 98696044010894n, den: 1n }, // σ ≈ 10^7·π^(1/2)…, σ² ≈ 9.87e13
    { num: 123456789n, den: 4096n },
  ];
  for (const s2 of cases) {
    const fast = new DiscreteGaussianSampler(s2, seededRandomSource(`agree-${s2.num}/${s2.den}`));
    assert.equal(fast.fastPath, true);
    const refRng = seededRandomSource(`agree-${s2.num}/${s2.den}`);
    for (let i = 0; i < 1500; i++) {
      assert.equal(fast.sample(), sampleDiscreteGaussianReference(s2, refRng), `sigma^2=${s2.num}/${s2.den}, sample ${i}`);
    }
  }
});

test('bigint continuations of the fast path (forced by a low safe limit) equal the reference', () => {
  // safeLimit = 4096 with σ² = 1000: x²·E overflows for |y| > 96 (≈ 5% of proposals).
  // σ² = 1001 (t = 1001, s = 32, F = 2002) with limit 2002: U + t·V overflows whenever V ≥ 2
  // (probability e^{-2} per proposal). The other two overflow in a·A and x²·E.
  for (const [s2, limit] of [
    [{ num: 1000n, den: 1n }, 4096],
    [{ num: 1001n, den: 1n }, 2002],
    [{ num: 7n, den: 3n }, 64],
    [{ num: 1n, den: 4n }, 16],
  ] as const) {
    const fast = new DiscreteGaussianSampler(s2, seededRandomSource(`limit-${limit}`), limit);
    assert.equal(fast.fastPath, true);
    const refRng = seededRandomSource(`limit-${limit}`);
    for (let i = 0; i < 3000; i++) {
      assert.equal(fast.sample(), sampleDiscreteGaussianReference(s2, refRng));
    }
  }
});

test('the sampling path calls no Math function (no floating point, no transcendental)', () => {
  const names = ['exp', 'log', 'log1p', 'expm1', 'sqrt', 'pow', 'random', 'floor', 'ceil', 'round', 'trunc', 'fround', 'hypot'] as const;
  const saved = names.map((n) => [n, Math[n]] as const);
  const rngFast = seededRandomSource('no-math');
  const rngRef = seededRandomSource('no-math-ref');
  const sampler = new DiscreteGaussianSampler({ num: 1n << 40n, den: 1n }, rngFast); // setup may use anything
  try {
    for (const n of names) {
      (Math as unknown as Record<string, unknown>)[n] = () => {
        throw new Error(`Math.${n} called in the sampling path`);
      };
    }
    for (let i = 0; i < 20_000; i++) sampler.sampleNumber();
    for (let i = 0; i < 200; i++) sampleDiscreteGaussianReference({ num: 7n, den: 3n }, rngRef);
  } finally {
    for (const [n, f] of saved) (Math as unknown as Record<string, unknown>)[n] = f;
  }
});

/** Chi-square goodness of fit of `n` samples against the exact pmf, binned to >= ~50 expected per bin. */
function fitTest(sigma2: Rational, n: number, seed: string): { mean: number; variance: number; exactVariance: number; fourth: number } {
  const s2 = Number(sigma2.num) / Number(sigma2.den);
  const sigma = Math.sqrt(s2);
  const cut = Math.ceil(12 * sigma) + 3;
  const { probs, variance: exactVariance, fourth } = pmf(s2, cut);
  const sampler = new DiscreteGaussianSampler(sigma2, seededRandomSource(seed));
  const counts = new Map<number, number>();
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const y = sampler.sampleNumber();
    assert.ok(Math.abs(y) <= cut, `sample ${y} beyond ${cut}`);
    counts.set(y, (counts.get(y) ?? 0) + 1);
    sum += y;
    sumSq += y * y;
  }
  // Consecutive integers grouped into bins of expected count >= 50.
  const obs: number[] = [];
  const exp: number[] = [];
  let o = 0;
  let p = 0;
  for (let y = -cut; y <= cut; y++) {
    o += counts.get(y) ?? 0;
    p += probs.get(y)!;
    if (p * n >= 50) {
      obs.push(o);
      exp.push(p);
      o = 0;
      p = 0;
    }
  }
  obs[obs.length - 1]! += o;
  exp[exp.length - 1]! += p;
  const stat = chiSquare(obs, exp, n);
  const crit = chiSquareCritical(obs.length - 1);
  assert.ok(stat < crit, `sigma^2=${s2}: chi-square ${stat.toFixed(1)} >= ${crit.toFixed(1)} (${obs.length} bins)`);
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean, exactVariance, fourth };
}

test('samples fit the exact pmf (chi-square), mean 0, variance = exact discrete variance', () => {
  const n = 200_000;
  for (const [sigma2, label] of [
    [{ num: 1n, den: 4n }, 'sigma=0.5'],
    [{ num: 1n, den: 1n }, 'sigma=1'],
    [{ num: 29n, den: 2n }, 'sigma^2=14.5'],
    [{ num: 10000n, den: 1n }, 'sigma=100'],
    [{ num: 400_000_000n, den: 1n }, 'sigma=2e4'],
  ] as const) {
    const r = fitTest(sigma2, n, `fit-${label}`);
    const seMean = Math.sqrt(r.exactVariance / n);
    assert.ok(Math.abs(r.mean) < 5 * seMean, `${label}: mean ${r.mean}`);
    const seVar = Math.sqrt((r.fourth - r.exactVariance ** 2) / n);
    assert.ok(Math.abs(r.variance - r.exactVariance) < 5 * seVar, `${label}: variance ${r.variance} vs ${r.exactVariance}`);
  }
});

test('the discrete Gaussian variance is below sigma^2 for small sigma (exact pmf)', () => {
  // σ = 0.5: Var = Σ y² e^{−2y²} / Σ e^{−2y²} ≈ 0.2150 < 0.25.
  const v05 = pmf(0.25, 20).variance;
  assert.ok(v05 < 0.25 && v05 > 0.21, `${v05}`);
  const v1 = pmf(1, 30).variance;
  assert.ok(v1 < 1 && v1 > 0.99, `${v1}`);
});

test('sample() and sampleNumber() agree; sampleDiscreteGaussian validates input', () => {
  const a = new DiscreteGaussianSampler({ num: 50n, den: 3n }, seededRandomSource('x'));
  const b = new DiscreteGaussianSampler({ num: 100n, den: 6n }, seededRandomSource('x')); // same σ², unreduced
  for (let i = 0; i < 1000; i++) assert.equal(BigInt(a.sampleNumber()), b.sample());
  assert.throws(() => sampleDiscreteGaussian({ num: 0n, den: 1n }, seededRandomSource(1)), RangeError);
  assert.throws(() => sampleDiscreteGaussian({ num: 1n, den: 0n }, seededRandomSource(1)), RangeError);
});
