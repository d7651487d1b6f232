import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  computeVoteEpsilon,
  PATE_2018_ORDERS,
  rdpVoteRelease,
  TOP_COUNT_SENSITIVITY,
  voteHistogramSensitivity,
  voteNoiseMultiplier,
  type VoteReleaseSpec,
} from './pate.js';
import { computeEpsilon } from './conversion.js';
import { DEFAULT_RDP_ORDERS } from './orders.js';

/*
 * Reference values: tensorflow/privacy research/pate_2018/core.py, run as
 * published (numpy 2.4, scipy 1.17) with the orders of
 * ICLR2018/smooth_sensitivity_table.py, data-independent branch of its
 * _compute_rdp: Q × compute_rdp_data_independent_threshold(sigma1, orders)
 * + A × rdp_data_independent_gaussian(sigma2, orders), then
 * compute_eps_from_delta(orders, rdp, delta) (classic conversion). The
 * parameters are those of ICLR2018/generate_table_data_independent.sh
 * (MNIST: T 200, σ1 150, σ2 40, 640 queries, δ 1e-5; SVHN: σ1 200, σ2 40,
 * 8,500 queries, δ 1e-6; Adult: σ1 200, σ2 40, 1,500 queries, δ 1e-5), with
 * every query answered (A = Q: the worst case, what the keyholder charges)
 * and, for MNIST, also A = 286.
 * core.py's convention is one-hot votes and replace-one adjacency (Δ = √2
 * for GNMax: "stability 2").
 */
const REPLACE_ONE_HOT = voteHistogramSensitivity('one-hot', 'replace-one');
const classic = { orders: PATE_2018_ORDERS, conversion: 'classic' as const };

test('per-query sensitivities of each vote shape', () => {
  assert.equal(voteHistogramSensitivity('one-hot', 'add-remove'), 1);
  assert.equal(REPLACE_ONE_HOT, Math.SQRT2);
  assert.equal(voteHistogramSensitivity('top-k', 'add-remove', 3), Math.sqrt(3));
  assert.equal(voteHistogramSensitivity('top-k', 'replace-one', 3), Math.sqrt(6));
  assert.equal(voteHistogramSensitivity('soft', 'add-remove'), 1);
  assert.equal(voteHistogramSensitivity('soft', 'replace-one'), Math.SQRT2);
  assert.throws(() => voteHistogramSensitivity('top-k', 'add-remove', 0), RangeError);
});

test('RDP per query equals core.py: rdp_data_independent_gaussian(40) = α/1600, threshold(150) = α/45000', () => {
  const orders = [2, 10.5];
  const gnmax = rdpVoteRelease({ mechanism: 'gnmax', queries: 1, sigma2: 40, histogramSensitivity: REPLACE_ONE_HOT }, orders);
  // core.py: [0.00125, 0.0065625]
  assert.ok(Math.abs(gnmax[0]! - 0.00125) < 1e-15 && Math.abs(gnmax[1]! - 0.0065625) < 1e-15, String(gnmax));
  const confident = rdpVoteRelease(
    { mechanism: 'confident-gnmax', queries: 1, answered: 0, sigma1: 150, sigma2: 40, histogramSensitivity: REPLACE_ONE_HOT },
    orders,
  );
  // core.py compute_rdp_data_independent_threshold(150, [2, 10.5]): [4.44444444e-05, 2.33333333e-04]
  assert.ok(Math.abs(confident[0]! - 2 / 45000) < 1e-17 && Math.abs(confident[1]! - 10.5 / 45000) < 1e-17, String(confident));
});

test('epsilon equals core.py on the ICLR2018 data-independent parameters', () => {
  const cases: Array<{ spec: Omit<VoteReleaseSpec, 'histogramSensitivity'>; delta: number; epsilon: number; order: number }> = [
    { spec: { mechanism: 'gnmax', queries: 640, sigma2: 40 }, delta: 1e-5, epsilon: 4.693259175449132, order: 6.5 },
    { spec: { mechanism: 'confident-gnmax', queries: 640, sigma1: 150, sigma2: 40 }, delta: 1e-5, epsilon: 4.785703619893576, order: 6.5 },
    { spec: { mechanism: 'confident-gnmax', queries: 640, answered: 286, sigma1: 150, sigma2: 40 }, delta: 1e-5, epsilon: 3.175320617551586, order: 8.5 },
    { spec: { mechanism: 'confident-gnmax', queries: 8500, sigma1: 200, sigma2: 40 }, delta: 1e-6, epsilon: 22.75721537197618, order: 2.5 },
    { spec: { mechanism: 'confident-gnmax', queries: 1500, sigma1: 200, sigma2: 40 }, delta: 1e-5, epsilon: 7.592532275705779, order: 4.5 },
  ];
  for (const c of cases) {
    const got = computeVoteEpsilon({ ...c.spec, histogramSensitivity: REPLACE_ONE_HOT }, c.delta, classic);
    assert.ok(Math.abs(got.epsilon - c.epsilon) < 1e-12 * c.epsilon, `${JSON.stringify(c.spec)}: ${got.epsilon} vs core.py ${c.epsilon}`);
    assert.equal(got.order, c.order);
  }
});

test('a vote release is one Gaussian of the equivalent noise multiplier in the ledger', () => {
  const spec: VoteReleaseSpec = { mechanism: 'confident-gnmax', queries: 640, sigma1: 150, sigma2: 40, histogramSensitivity: 1 };
  const z = voteNoiseMultiplier(spec);
  assert.equal(z, 1 / Math.sqrt(640 / 150 ** 2 + 640 / 40 ** 2));
  const ledger = computeEpsilon([{ noiseMultiplier: z, samplingRate: 1, steps: 1 }], 1e-5);
  const direct = computeVoteEpsilon(spec, 1e-5);
  assert.equal(direct.epsilon, ledger.epsilon);
  // add/remove one teacher halves the GNMax term of replace-one: cheaper, never dearer
  assert.ok(direct.epsilon < computeVoteEpsilon({ ...spec, histogramSensitivity: REPLACE_ONE_HOT }, 1e-5).epsilon);
  // the threshold term alone: Q/σ1² with Δ = 1 whatever the adjacency
  assert.equal(voteNoiseMultiplier({ ...spec, answered: 0 }), 150 / Math.sqrt(640) / TOP_COUNT_SENSITIVITY);
  // GNMax and the noisy histogram cost the same (argmax is post-processing)
  assert.equal(
    voteNoiseMultiplier({ mechanism: 'gnmax', queries: 10, sigma2: 5, histogramSensitivity: 1 }),
    voteNoiseMultiplier({ mechanism: 'noisy-histogram', queries: 10, sigma2: 5, histogramSensitivity: 1 }),
  );
  assert.equal(DEFAULT_RDP_ORDERS.length, 156);
});

test('PATE 2018 orders: 198 half-steps from 2, then 100 log-spaced up to 500', () => {
  assert.equal(PATE_2018_ORDERS.length, 298);
  assert.equal(PATE_2018_ORDERS[0], 2);
  assert.equal(PATE_2018_ORDERS[197], 100.5);
  assert.ok(Math.abs(PATE_2018_ORDERS[297]! - 500) < 1e-9);
});

test('bad specs are refused', () => {
  assert.throws(() => voteNoiseMultiplier({ mechanism: 'gnmax', queries: 1, sigma2: 0, histogramSensitivity: 1 }), RangeError);
  assert.throws(() => voteNoiseMultiplier({ mechanism: 'confident-gnmax', queries: 1, sigma2: 1, histogramSensitivity: 1 }), RangeError);
  assert.throws(
    () => voteNoiseMultiplier({ mechanism: 'confident-gnmax', queries: 2, answered: 3, sigma1: 1, sigma2: 1, histogramSensitivity: 1 }),
    RangeError,
  );
});
