import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { composeRdp, rdpGaussian, rdpSampledGaussian } from './rdp.js';
import { DEFAULT_RDP_ORDERS, OPACUS_RDP_ORDERS } from './orders.js';
import { logAdd } from './log-space.js';
import { assertClose } from './testing.js';

test('DEFAULT_RDP_ORDERS is dp-accounting’s grid', () => {
  // google/differential-privacy python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant.py:
  // DEFAULT_RDP_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]
  assert.equal(DEFAULT_RDP_ORDERS.length, 99 + 53 + 4);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(0, 3), [1.1, 1.2, 1.3]);
  assert.equal(DEFAULT_RDP_ORDERS[98], 10.9);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(99, 101), [11, 12]);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(-5), [63, 128, 256, 512, 1024]);
  assert.ok(Object.isFrozen(DEFAULT_RDP_ORDERS));
  // opacus/accountants/rdp.py: DEFAULT_ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
  assert.equal(OPACUS_RDP_ORDERS.length, 99 + 52);
  assert.equal(OPACUS_RDP_ORDERS.at(-1), 63);
});

test('Gaussian RDP is alpha/(2 sigma^2) (dp-accounting test_compute_rdp_gaussian)', () => {
  // rdp_privacy_accountant_test.py: alpha = 3.14159, sigma = 2.71828 -> alpha / (2 * sigma**2)
  assertClose(rdpGaussian(2.71828, 3.14159), 3.14159 / (2 * 2.71828 ** 2), 1e-15);
  assert.equal(rdpGaussian(0, 2), Infinity);
  assert.equal(rdpGaussian(1, Infinity), Infinity);
  assert.throws(() => rdpGaussian(-1, 2), RangeError);
  assert.throws(() => rdpGaussian(1, 1), RangeError);
});

test('sampled Gaussian, q = 0.01, z = 2.5, 50 steps (dp-accounting test_compute_rdp_poisson_subsampled_gaussian)', () => {
  // rdp_privacy_accountant_test.py asserts these with rtol 1e-4; printed to 9 significant digits.
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const want = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2, Infinity];
  const got = composeRdp([{ noiseMultiplier: 2.5, samplingRate: 0.01, steps: 50 }], orders);
  got.forEach((g, i) => assertClose(g, want[i]!, 5e-9, `order ${orders[i]}`));
});

test('sampled Gaussian with the signed series (TF Privacy rdp_accountant_test test_compute_rdp_sequence)', () => {
  // tensorflow_privacy/privacy/analysis/rdp_accountant_test.py (pre-2024 series with signs):
  // compute_rdp(0.01, 2.5, 50, [1.5, 2.5, 5, 50, 100, inf]) ≈ [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, inf], delta=1e-5
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const want = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, Infinity];
  const got = composeRdp([{ noiseMultiplier: 2.5, samplingRate: 0.01, steps: 50 }], orders, 'signed');
  got.forEach((g, i) => {
    if (want[i] === Infinity) assert.equal(g, Infinity);
    else assert.ok(Math.abs(g - want[i]!) <= 1e-5, `order ${orders[i]}: ${g} vs ${want[i]}`);
  });
});

test('TF Privacy rdp_accountant_test: scalar, no data, no sampling, heterogeneous', () => {
  // test_compute_rdp_scalar: compute_rdp(0.1, 2, 10, 5) ≈ 0.07737 (places=5)
  assert.ok(Math.abs(10 * rdpSampledGaussian(0.1, 2, 5) - 0.07737) < 5e-6);
  // test_compute_rdp_no_data: q = 0 -> 0; test_compute_rdp_no_sampling: q = 1, z = 10, order 20 -> 0.1
  assert.equal(rdpSampledGaussian(0, 10, 20), 0);
  assert.equal(rdpSampledGaussian(1, 10, 20), 0.1);
  // test_compute_heterogeneous_rdp_different_sampling_probabilities: q = [0, 1], z = [10, 10], steps [1, 1], order 20 -> 0.1
  const rounds = [
    { noiseMultiplier: 10, samplingRate: 0, steps: 1 },
    { noiseMultiplier: 10, samplingRate: 1, steps: 1 },
  ];
  assert.deepEqual(composeRdp(rounds, [20]), [0.1]);
});

test('composition adds (dp-accounting test_rdp_composition)', () => {
  const orders = [2.71828];
  const one = composeRdp([{ noiseMultiplier: 3.14159, samplingRate: 0.3, steps: 1 }], orders)[0]!;
  const six = composeRdp([{ noiseMultiplier: 3.14159, samplingRate: 0.3, steps: 6 }], orders)[0]!;
  assertClose(six, 6 * one, 1e-14);
  const split = composeRdp(
    [1, 2, 3].map((steps) => ({ noiseMultiplier: 3.14159, samplingRate: 0.3, steps })),
    orders,
  )[0]!;
  assertClose(split, 6 * one, 1e-14);
  const other = composeRdp([{ noiseMultiplier: 1.61803, samplingRate: 0.3, steps: 1 }], orders)[0]!;
  const both = composeRdp(
    [
      { noiseMultiplier: 3.14159, samplingRate: 0.3, steps: 1 },
      { noiseMultiplier: 1.61803, samplingRate: 0.3, steps: 1 },
    ],
    orders,
  )[0]!;
  assertClose(both, one + other, 1e-14);
  assert.throws(() => composeRdp([{ noiseMultiplier: 1, samplingRate: 0.1, steps: 1.5 }]), RangeError);
  assert.throws(() => composeRdp([{ noiseMultiplier: 1, samplingRate: 1.5, steps: 1 }]), RangeError);
  assert.throws(() => composeRdp([], [1]), RangeError);
});

/**
 * log A_α by direct numerical integration of E_{x∼N(0,σ²)}[((1−q) + q·e^{(2x−1)/(2σ²)})^α]
 * (the definition in MTZ19), with the trapezoidal rule in log space on a fine grid
 * around the integrand's peak — an independent check of the series.
 */
function logAByQuadrature(q: number, sigma: number, alpha: number): number {
  const lo = Math.min(-40 * sigma, alpha - 40 * sigma);
  const hi = Math.max(40 * sigma, alpha + 40 * sigma) + 1;
  const h = sigma / 40;
  const logNorm = -Math.log(sigma * Math.sqrt(2 * Math.PI));
  let logSum = -Infinity;
  let sumExpm1 = 0; // Σ φ·(ratio^α − 1), accurate when A ≈ 1
  let overflow = false;
  for (let x = lo; x <= hi; x += h) {
    const u = (2 * x - 1) / (2 * sigma * sigma);
    const logRatio = u < 30 ? Math.log1p(q * Math.expm1(u)) : Math.log(q) + u + Math.log1p(((1 - q) / q) * Math.exp(-u));
    const logPhi = logNorm - (x * x) / (2 * sigma * sigma);
    logSum = logAdd(logSum, logPhi + alpha * logRatio);
    const m = Math.expm1(alpha * logRatio);
    if (!Number.isFinite(m)) overflow = true;
    else sumExpm1 += Math.exp(logPhi) * m;
  }
  if (!overflow && Math.abs(sumExpm1 * h) < 0.5) return Math.log1p(sumExpm1 * h);
  return logSum + Math.log(h);
}

test('log A_alpha equals numerical integration (as dp-accounting test_compute_log_a_equals_mp)', () => {
  // Parameters from rdp_privacy_accountant_test.py (there: mpmath quadrature, rtol 1e-4, atol 1e-8).
  const params = [
    { q: 1e-7, sigma: 0.1, order: 1.01 },
    { q: 1e-6, sigma: 0.1, order: 256 },
    { q: 1e-5, sigma: 0.1, order: 256.1 },
    { q: 1e-6, sigma: 1, order: 27 },
    { q: 1e-4, sigma: 1, order: 1.5 },
    { q: 1e-3, sigma: 1, order: 2 },
    { q: 0.01, sigma: 10, order: 20 },
    { q: 0.1, sigma: 100, order: 20.5 },
    { q: 0.99, sigma: 0.1, order: 256 },
    { q: 0.999, sigma: 100, order: 256.1 },
  ];
  for (const { q, sigma, order } of params) {
    const want = logAByQuadrature(q, sigma, order);
    for (const series of ['signed', 'absolute'] as const) {
      const got = rdpSampledGaussian(q, sigma, order, series) * (order - 1);
      assert.ok(
        Math.abs(got - want) <= 1e-4 * Math.abs(want) + 1e-8,
        `q=${q} sigma=${sigma} order=${order} (${series}): ${got} vs ${want}`,
      );
    }
  }
});

test('signed series is the exact A_alpha, the absolute one an upper bound (checked by quadrature)', () => {
  // Opacus's setting (q = 0.04, z = 1.5), where the two differ most at orders near 1.
  for (const order of [1.1, 1.5, 2.5, 3.9]) {
    const want = logAByQuadrature(0.04, 1.5, order);
    const signed = rdpSampledGaussian(0.04, 1.5, order, 'signed') * (order - 1);
    const absolute = rdpSampledGaussian(0.04, 1.5, order, 'absolute') * (order - 1);
    assertClose(signed, want, 1e-8, `signed, order ${order}`);
    assert.ok(absolute > want, `absolute must exceed the exact value at order ${order}`);
  }
});

test('absolute-value series bounds the signed one; integer orders are unaffected', () => {
  for (const q of [1e-3, 0.04, 0.3, 0.9]) {
    for (const z of [0.5, 1.5, 4]) {
      for (const a of [1.1, 1.5, 2.5, 3.7, 10.3, 40]) {
        const abs = rdpSampledGaussian(q, z, a, 'absolute');
        const sgn = rdpSampledGaussian(q, z, a, 'signed');
        assert.ok(abs >= sgn * (1 - 1e-12), `q=${q} z=${z} a=${a}: ${abs} < ${sgn}`);
        if (Number.isInteger(a)) assert.equal(abs, sgn);
      }
    }
  }
});

test('special cases and validation', () => {
  assert.equal(rdpSampledGaussian(0, 0, 2), 0); // q = 0 wins over z = 0 (as dp-accounting)
  assert.equal(rdpSampledGaussian(0.5, 0, 2), Infinity);
  assert.equal(rdpSampledGaussian(0.5, 1, Infinity), Infinity);
  assert.throws(() => rdpSampledGaussian(-0.1, 1, 2), RangeError);
  assert.throws(() => rdpSampledGaussian(0.5, NaN, 2), RangeError);
  assert.throws(() => rdpSampledGaussian(0.5, 1, 0.5), RangeError);
  // Large orders stay finite and increasing (no overflow in the binomial sums).
  let prev = 0;
  for (const a of [2, 64, 512, 1024]) {
    const r = rdpSampledGaussian(0.01, 1, a);
    assert.ok(Number.isFinite(r) && r > prev);
    prev = r;
  }
});
