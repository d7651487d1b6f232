import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { composePld, computeDeltaPld, computeEpsilonPld } from './pld.js';
import { computeEpsilon } from './conversion.js';
import { analyticGaussianDelta } from './analytic-gaussian.js';
import type { RoundSpec } from './rdp.js';
import { fft } from './fft.js';

// Reference values: google/differential-privacy, python/dp_accounting/dp_accounting/pld/
// (read at commit b5b0286e313b64a692abfc8c528d54ef47d960a0).

/** Exact ε of the Gaussian mechanism with noise multiplier z at δ (Balle & Wang 2018), by bisection. */
function exactGaussianEpsilon(z: number, delta: number): number {
  let lo = 0;
  let hi = 1;
  while (analyticGaussianDelta(hi, z) > delta) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (analyticGaussianDelta(mid, z) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

const round = (samplingRate: number, noiseMultiplier: number, steps: number): RoundSpec => ({ samplingRate, noiseMultiplier, steps });

test('fft: forward then inverse is the identity, and a product of transforms is a cyclic convolution', () => {
  const n = 16;
  const a = Float64Array.from({ length: n }, (_, i) => (i < 5 ? i + 1 : 0));
  const b = Float64Array.from({ length: n }, (_, i) => (i < 3 ? 1 / (i + 1) : 0));
  const [ar, ai, br, bi] = [Float64Array.from(a), new Float64Array(n), Float64Array.from(b), new Float64Array(n)];
  fft(ar, ai);
  fft(br, bi);
  const cr = new Float64Array(n);
  const ci = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    cr[k] = ar[k]! * br[k]! - ai[k]! * bi[k]!;
    ci[k] = ar[k]! * bi[k]! + ai[k]! * br[k]!;
  }
  fft(cr, ci, true);
  for (let s = 0; s < n; s++) {
    let want = 0;
    for (let i = 0; i <= s; i++) want += a[i]! * b[s - i]!;
    assert.ok(Math.abs(cr[s]! - want) < 1e-12, `bin ${s}: ${cr[s]} vs ${want}`);
  }
  fft(ar, ai, true);
  ar.forEach((v, i) => assert.ok(Math.abs(v - a[i]!) < 1e-12));
  assert.throws(() => fft(new Float64Array(12), new Float64Array(12)), /power of two/);
});

test('Gaussian: dp-accounting pld_privacy_accountant_test.py test_gaussian_basic', () => {
  // GaussianDpEvent(noise_multiplier=sqrt(3)) composed 1 + 2 times: exact_epsilon = 1,
  // exact_delta = 0.126936 (assertAlmostEqual delta=1e-3 both ways).
  const rounds = [round(1, Math.sqrt(3), 1), round(1, Math.sqrt(3), 2)];
  const delta = computeDeltaPld(rounds, 1).delta;
  assert.ok(Math.abs(delta - 0.126936) <= 1e-3, `delta ${delta}`);
  const epsilon = computeEpsilonPld(rounds, 0.126936).epsilon;
  assert.ok(Math.abs(epsilon - 1) <= 1e-3, `epsilon ${epsilon}`);
  // The three rounds are one Gaussian with μ = 1: the PLD may only over-state it.
  assert.ok(delta >= analyticGaussianDelta(1, 1) * (1 - 1e-12), `${delta} below the exact ${analyticGaussianDelta(1, 1)}`);
  assert.ok(delta - analyticGaussianDelta(1, 1) < 1e-6);
});

test('subsampled Gaussian: dp-accounting test_poisson_subsampled_gaussian and test_self_composed_subsampled_gaussian', () => {
  // PoissonSampledDpEvent(0.2, GaussianDpEvent(0.5)) composed 1 + 2 times, and SelfComposedDpEvent(…, 3):
  // exact_epsilon = 1, expected_delta = 0.15594 (assertAlmostEqual delta=1e-3 both ways).
  for (const rounds of [[round(0.2, 0.5, 1), round(0.2, 0.5, 2)], [round(0.2, 0.5, 3)]]) {
    const delta = computeDeltaPld(rounds, 1).delta;
    assert.ok(Math.abs(delta - 0.15594) <= 1e-3, `delta ${delta}`);
    const epsilon = computeEpsilonPld(rounds, 0.15594).epsilon;
    assert.ok(Math.abs(epsilon - 1) <= 1e-3, `epsilon ${epsilon}`);
  }
});

test('dp-accounting accountant_test.py: test_get_smallest_gaussian_noise (exact Gaussian, folded composition)', () => {
  // std 1/3, sensitivity 1, 1 query, and std 10, sensitivity 6, 25 queries: both (1, 0.78760074)-DP, tightly.
  for (const rounds of [[round(1, 1 / 3, 1)], [round(1, 10 / 6, 25)]]) {
    const delta = computeDeltaPld(rounds, 1).delta;
    assert.ok(delta >= 0.78760074 - 1e-8, `delta ${delta}`);
    assert.ok(delta - 0.78760074 < 1e-5, `delta ${delta}`);
  }
});

test('dp-accounting accountant_test.py: test_get_smallest_subsampled_gaussian_noise', () => {
  // The smallest std with (1, 1e-5)-DP by dp-accounting's (coarser, h = 1e-3) pessimistic PLD:
  // q = 0.01, 1 query, sensitivity 1 -> 0.67379294682; q = 0.001, 25 queries, sensitivity 6 -> 3.20956502598.
  // At those noise multipliers our ε at 1e-5 is 1 up to the search's and the grids' tolerance.
  const a = computeEpsilonPld([round(0.01, 0.67379294682, 1)], 1e-5).epsilon;
  assert.ok(Math.abs(a - 1) < 1e-3, `epsilon ${a}`);
  const b = computeEpsilonPld([round(0.001, 3.20956502598 / 6, 25)], 1e-5).epsilon;
  assert.ok(Math.abs(b - 1) < 1e-3, `epsilon ${b}`);
});

test('T = 1, q = 1: at least the exact analytic-Gaussian epsilon and within 1e-4 of it', () => {
  for (const z of [0.5, 0.8, 1, 2, 5]) {
    for (const delta of [1e-3, 1e-5, 1e-9]) {
      const exact = exactGaussianEpsilon(z, delta);
      const pld = computeEpsilonPld([round(1, z, 1)], delta).epsilon;
      assert.ok(pld >= exact - 1e-9, `z=${z} δ=${delta}: PLD ${pld} < exact ${exact}`);
      assert.ok(pld - exact <= 1e-4 * Math.max(1, exact), `z=${z} δ=${delta}: PLD ${pld} too far above exact ${exact}`);
    }
  }
});

test('composition by FFT: q just below 1 matches the exact composed Gaussian; heterogeneous q = 1 rounds fold exactly', () => {
  // q = 1 − 1e-9 is not folded, so ten rounds are composed by the FFT path; they differ from the
  // Gaussian with μ = √10 by O(1e-9) only.
  const exact = exactGaussianEpsilon(1 / Math.sqrt(10), 1e-5);
  const viaFft = computeEpsilonPld([round(1 - 1e-9, 1, 10)], 1e-5);
  assert.ok(Math.abs(viaFft.epsilon - exact) <= 2e-3 * exact, `FFT ${viaFft.epsilon} vs exact ${exact}`);
  assert.ok(viaFft.epsilon >= exact - 1e-6, `FFT ${viaFft.epsilon} below exact ${exact}`);
  // 3 rounds at z = 1 and 4 at z = 2: μ² = 3 + 1 = 4.
  const folded = computeEpsilonPld([round(1, 1, 3), round(1, 2, 4)], 1e-5).epsilon;
  const exact2 = exactGaussianEpsilon(0.5, 1e-5);
  assert.ok(folded >= exact2 - 1e-9 && folded - exact2 < 1e-4, `${folded} vs ${exact2}`);
});

test('pessimism: a coarser grid never reports a smaller epsilon, and every grid bounds the exact value', () => {
  const rounds = [round(0.05, 1, 200)];
  const fine = computeEpsilonPld(rounds, 1e-5, { valueDiscretizationInterval: 1e-4, maxGridPoints: 2 ** 18 });
  const coarse = computeEpsilonPld(rounds, 1e-5, { valueDiscretizationInterval: 1e-2 });
  assert.equal(fine.valueDiscretizationInterval, 1e-4);
  assert.equal(coarse.valueDiscretizationInterval, 1e-2);
  assert.ok(coarse.epsilon >= fine.epsilon - 1e-9, `coarse ${coarse.epsilon} < fine ${fine.epsilon}`);
  assert.ok(coarse.epsilon - fine.epsilon < 0.05, 'connect-the-dots stays tight even at h = 0.01');
  const g = [round(1, 0.9, 1)];
  const exact = exactGaussianEpsilon(0.9, 1e-5);
  for (const h of [1e-4, 1e-3, 1e-2, 0.1]) {
    assert.ok(computeEpsilonPld(g, 1e-5, { valueDiscretizationInterval: h }).epsilon >= exact - 1e-9, `h = ${h}`);
  }
});

test('PLD <= RDP on the same schedule (q = 0.01, z = 1.1, T = 1000; q = 1, z = 1, T = 10) at delta 1e-5', () => {
  const cases: Array<[RoundSpec, number, number]> = [
    // [schedule, RDP ε (improved conversion), PLD ε as measured; PLD must be below RDP and above 80 % of it]
    [round(0.01, 1.1, 1000), 1.7118, 1.5154],
    [round(1, 1, 10), 19.0536, 17.8566],
  ];
  for (const [r, rdpWant, pldWant] of cases) {
    const rdp = computeEpsilon([r], 1e-5).epsilon;
    const pld = computeEpsilonPld([r], 1e-5).epsilon;
    assert.ok(Math.abs(rdp - rdpWant) < 1e-3, `RDP ${rdp}`);
    assert.ok(pld <= rdp, `PLD ${pld} > RDP ${rdp}`);
    assert.ok(Math.abs(pld - pldWant) < 1e-3, `PLD ${pld}, expected about ${pldWant}`);
  }
  // q = 1, z = 1, T = 10 is one Gaussian with μ = √10: PLD is exact there up to the grid.
  const exact = exactGaussianEpsilon(1 / Math.sqrt(10), 1e-5);
  const pld = computeEpsilonPld([round(1, 1, 10)], 1e-5).epsilon;
  assert.ok(pld >= exact - 1e-9 && pld - exact < 1e-3, `${pld} vs ${exact}`);
});

test('PLD <= RDP over the grid q ∈ {1, 0.1, 0.01}, z ∈ {0.8, 1.1, 2}, T ∈ {10, 100, 1000}', () => {
  for (const q of [1, 0.1, 0.01]) {
    for (const z of [0.8, 1.1, 2]) {
      for (const steps of [10, 100, 1000]) {
        const rdp = computeEpsilon([round(q, z, steps)], 1e-5).epsilon;
        const pld = computeEpsilonPld([round(q, z, steps)], 1e-5).epsilon;
        assert.ok(pld > 0 && pld <= rdp, `q=${q} z=${z} T=${steps}: PLD ${pld} vs RDP ${rdp}`);
      }
    }
  }
});

test('queries are consistent: delta(epsilon(d)) <= d, and more rounds never cost less', () => {
  const pld = composePld([round(0.02, 0.9, 300), round(0.05, 1.5, 100)]);
  for (const d of [1e-3, 1e-5, 1e-8]) {
    const e = pld.epsilonForDelta(d);
    assert.ok(pld.deltaForEpsilon(e) <= d * (1 + 1e-6), `δ(ε(${d})) = ${pld.deltaForEpsilon(e)}`);
    assert.ok(pld.deltaForEpsilon(Math.max(0, e - 0.01)) > d, 'ε is the smallest such value (to the grid)');
  }
  const fewer = computeEpsilonPld([round(0.02, 0.9, 300)], 1e-5).epsilon;
  const more = computeEpsilonPld([round(0.02, 0.9, 300), round(0.05, 1.5, 100)], 1e-5).epsilon;
  assert.ok(more > fewer);
  // Order of heterogeneous rounds does not matter, and the same schedule is composed once.
  const swapped = computeEpsilonPld([round(0.05, 1.5, 100), round(0.02, 0.9, 300)], 1e-5).epsilon;
  assert.equal(swapped, more);
  assert.equal(composePld([round(0.05, 1.5, 100), round(0.02, 0.9, 300)]), pld);
  assert.equal(composePld([round(0.02, 0.9, 100), round(0.05, 1.5, 60), round(0.02, 0.9, 200), round(0.05, 1.5, 40)]), pld);
  assert.notEqual(composePld([round(0.02, 0.9, 300), round(0.05, 1.5, 100)], { maxGridPoints: 2 ** 12 }), pld);
});

test('special cases and argument checks', () => {
  assert.equal(computeEpsilonPld([], 1e-5).epsilon, 0);
  assert.equal(computeDeltaPld([], 0).delta, 0);
  assert.equal(computeEpsilonPld([round(0, 1, 100), round(0.5, Infinity, 3), round(1, 1, 0)], 1e-5).epsilon, 0);
  assert.equal(computeEpsilonPld([round(1, 0, 1)], 1e-5).epsilon, Infinity);
  assert.equal(computeDeltaPld([round(0.5, 0, 1)], 3).delta, 1);
  assert.equal(computeEpsilonPld([round(1, 1e-300, 1)], 1e-5).epsilon, Infinity);
  assert.throws(() => computeEpsilonPld([round(1.5, 1, 1)], 1e-5), /sampling rate/);
  assert.throws(() => computeEpsilonPld([round(0.5, -1, 1)], 1e-5), /noise multiplier/);
  assert.throws(() => computeEpsilonPld([round(0.5, 1, 1.5)], 1e-5), /steps/);
  assert.throws(() => computeEpsilonPld([round(0.5, 1, 1)], 0), /delta/);
  assert.throws(() => computeDeltaPld([round(0.5, 1, 1)], -1), /epsilon/);
  assert.throws(() => computeEpsilonPld([round(0.5, 1, 1)], 1e-5, { valueDiscretizationInterval: 0 }), /valueDiscretizationInterval/);
  assert.throws(() => computeEpsilonPld([round(0.5, 1, 1)], 1e-5, { maxGridPoints: 3 }), /maxGridPoints/);
});

test('one subsampled step: delta(epsilon) bounds direct numerical integration of both hockey-stick divergences', () => {
  // Independent of the closed forms the accountant uses: ∫ [P − e^ε Q]₊ by the midpoint rule on [−40, 40].
  const phi = (x: number): number => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
  const integrate = (f: (x: number) => number): number => {
    const n = 400_000;
    const dx = 80 / n;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += f(-40 + (i + 0.5) * dx);
    return sum * dx;
  };
  for (const [q, z] of [[0.1, 1], [0.01, 0.7], [0.5, 2]] as const) {
    const mu = 1 / z;
    for (const eps of [0.1, 0.5, 1, 2]) {
      const g = Math.exp(eps);
      const remove = integrate((x) => Math.max(0, (1 - q) * phi(x) + q * phi(x + mu) - g * phi(x)));
      const add = integrate((x) => Math.max(0, phi(x) - g * ((1 - q) * phi(x) + q * phi(x - mu))));
      const exact = Math.max(remove, add);
      const pld = computeDeltaPld([round(q, z, 1)], eps).delta;
      assert.ok(pld >= exact * (1 - 1e-6) - 1e-12, `q=${q} z=${z} ε=${eps}: PLD ${pld} below ${exact}`);
      assert.ok(pld - exact <= 1e-4 * exact + 1e-9, `q=${q} z=${z} ε=${eps}: PLD ${pld} too far above ${exact}`);
    }
  }
});

test('a schedule whose range the coarse estimate cannot know still fits the grid budget', () => {
  // Very different mechanisms in one schedule; the composed grid stays within 4× maxGridPoints.
  const pld = composePld([round(0.001, 0.3, 5000), round(1, 0.5, 3), round(0.2, 5, 50)], { maxGridPoints: 2 ** 12 });
  assert.ok(pld.gridPoints <= 4 * 2 ** 12 * 2, `grid ${pld.gridPoints}`);
  const rdp = computeEpsilon([round(0.001, 0.3, 5000), round(1, 0.5, 3), round(0.2, 5, 50)], 1e-5).epsilon;
  assert.ok(pld.epsilonForDelta(1e-5) <= rdp);
});

test('extreme schedules stay finite and below RDP (regression: NaN from an overflowing MGF step on coarse grids)', () => {
  for (const [q, z, steps] of [
    [0.5, 0.05, 10_000],
    [0.01, 1.1, 1_000_000],
    [1e-4, 0.5, 100_000],
    [0.3, 50, 10_000],
    [1, 0.01, 1],
  ] as const) {
    const rounds = [round(q, z, steps)];
    const pld = computeEpsilonPld(rounds, 1e-5).epsilon;
    const rdp = computeEpsilon(rounds, 1e-5).epsilon;
    assert.ok(Number.isFinite(pld) && pld > 0 && pld <= rdp, `q=${q} z=${z} T=${steps}: PLD ${pld}, RDP ${rdp}`);
    const delta = computeDeltaPld(rounds, pld).delta;
    assert.ok(!Number.isNaN(delta) && delta <= 1e-5 * (1 + 1e-6), `δ(ε) = ${delta}`);
  }
});
