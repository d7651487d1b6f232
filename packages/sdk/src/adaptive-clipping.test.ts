import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { AdaptiveClipping, augmentWithClipIndicator, clipRoundParameters, clipRoundParametersFromRound, splitAugmentedSum } from './adaptive-clipping.js';

/** Seeded uniform (mulberry32) and normal draws, so the constructed distributions are the same every run. */
function seeded(seed: number): { uniform: () => number; normal: () => number } {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs `rounds` rounds on a fixed population of norms; the count below C gets N(0, countNoise²) as the release would add. */
function track(norms: number[], options: { initial: number; quantile: number; rounds: number; countNoise: number; seed: number }): number[] {
  const rng = seeded(options.seed);
  const clipping = new AdaptiveClipping({ initialClipNorm: options.initial, targetQuantile: options.quantile, learningRate: 0.2, countNoiseStd: Math.max(options.countNoise, 1) });
  const path = [clipping.currentClipNorm];
  for (let t = 0; t < options.rounds; t++) {
    const c = clipping.currentClipNorm;
    const below = norms.filter((n) => n <= c).length;
    clipping.update(below + options.countNoise * rng.normal(), norms.length);
    path.push(clipping.currentClipNorm);
  }
  return path;
}

// A constructed distribution of update norms: log-normal, median e^0 = 1, spread 0.5 in log space.
const rng = seeded(42);
const norms = Array.from({ length: 200 }, () => Math.exp(0.5 * rng.normal())).sort((a, b) => a - b);

for (const quantileTarget of [0.5, 0.9]) {
  for (const initial of [0.01, 100]) {
    test(`C moves from ${initial} to the ${quantileTarget} quantile of the norms (noise-free count)`, () => {
      const target = quantile(norms, quantileTarget);
      // From far above a high quantile, b̄ = 1 and C shrinks by only e^(−η(1 − γ)) per round (2 % at γ = 0.9): 400 rounds.
      const path = track(norms, { initial, quantile: quantileTarget, rounds: 400, countNoise: 0, seed: 1 });
      // Monotone approach while far away: every step from the start moves toward the target until it is within 10 %.
      for (let t = 1; t < path.length && Math.abs(Math.log(path[t - 1]! / target)) > 0.1; t++) {
        assert.ok(Math.abs(Math.log(path[t]! / target)) < Math.abs(Math.log(path[t - 1]! / target)), `round ${t}: ${path[t - 1]} -> ${path[t]} (target ${target})`);
      }
      const final = path.at(-1)!;
      const fractionBelow = norms.filter((n) => n <= final).length / norms.length;
      assert.ok(Math.abs(fractionBelow - quantileTarget) <= 0.05, `C = ${final}: ${fractionBelow} of the norms below, target ${quantileTarget}`);
    });
  }
}

test('with the count noised as a release noises it (σ_b = n/20), C still settles near the target quantile', () => {
  const target = quantile(norms, 0.5);
  const path = track(norms, { initial: 0.05, quantile: 0.5, rounds: 300, countNoise: norms.length / 20, seed: 9 });
  // Averaged over the last 100 rounds (the noisy estimate jitters C around its fixed point).
  const tail = path.slice(-100);
  const geometricMean = Math.exp(tail.reduce((s, c) => s + Math.log(c), 0) / tail.length);
  assert.ok(Math.abs(Math.log(geometricMean / target)) < 0.1, `C ≈ ${geometricMean}, median norm ${target}`);
});

test('the round parameters put noise σ_b on the count and (z⁻² − σ_b⁻²)^(−1/2) on the update', () => {
  const z = 1.1;
  const countNoiseStd = 3;
  const p = clipRoundParameters(0.7, z, countNoiseStd);
  const sigma = z * p.roundClipNorm;
  assert.ok(Math.abs(sigma / p.indicatorScale - countNoiseStd) < 1e-12);
  assert.ok(Math.abs(p.effectiveUpdateNoiseMultiplier - (z ** -2 - countNoiseStd ** -2) ** -0.5) < 1e-12);
  assert.ok(Math.abs(p.roundClipNorm ** 2 - (0.7 ** 2 + p.indicatorScale ** 2)) < 1e-12);
  assert.throws(() => clipRoundParameters(1, 2, 2), /must exceed the noise multiplier/);
  // A client recovers C and s from the signed round (C_aug, z) and the run's σ_b.
  for (const [c, zz] of [[0.7, z], [2, 0]] as const) {
    const q = clipRoundParameters(c, zz, countNoiseStd);
    const r = clipRoundParametersFromRound(q.roundClipNorm, zz, countNoiseStd);
    assert.ok(Math.abs(r.updateClipNorm - c) < 1e-12 && Math.abs(r.indicatorScale - q.indicatorScale) < 1e-12, `C ${c}, z ${zz}`);
  }
  assert.throws(() => clipRoundParameters(0, 1, 3), /update clip norm/);
});

test('augmenting clips the update to C, appends s·[‖Δ‖ ≤ C], and stays within the round clip norm', () => {
  const p = clipRoundParameters(1, 1, 4);
  const small = augmentWithClipIndicator([0.6, 0.8 - 1e-9], p);
  assert.equal(small.belowClipNorm, true);
  assert.equal(small.values.length, 3);
  assert.equal(small.values[2], p.indicatorScale);
  const big = augmentWithClipIndicator([3, 4], p);
  assert.equal(big.belowClipNorm, false);
  assert.equal(big.originalNorm, 5);
  assert.equal(big.values[2], 0);
  assert.ok(Math.hypot(big.values[0]!, big.values[1]!) <= 1);
  for (const v of [small.values, big.values]) assert.ok(Math.hypot(...v) <= p.roundClipNorm);
  assert.throws(() => augmentWithClipIndicator([NaN], p), /not finite/);

  const sum = Float64Array.from([small.values[0]! + big.values[0]!, small.values[1]! + big.values[1]!, small.values[2]! + big.values[2]!]);
  const split = splitAugmentedSum(sum, p);
  assert.equal(split.updateSum.length, 2);
  assert.ok(Math.abs(split.noisyCountBelow - 1) < 1e-12);
});
