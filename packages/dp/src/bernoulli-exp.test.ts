import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { sampleBernoulliExp, sampleDiscreteLaplace } from './bernoulli-exp.js';
import { seededRandomSource } from './rng.js';
import { chiSquare, chiSquareCritical, forbiddenSource, scriptedSource } from './testing.js';

test('Bernoulli(exp(-gamma)) frequencies match e^-gamma (CKS20 Alg. 1)', () => {
  const rng = seededRandomSource('bernoulli-exp');
  const n = 100_000;
  for (const [num, den] of [[1n, 3n], [1n, 1n], [5n, 2n], [7n, 1n], [1n, 1000n], [999n, 1000n]] as const) {
    let hits = 0;
    for (let i = 0; i < n; i++) if (sampleBernoulliExp({ num, den }, rng)) hits++;
    const p = Math.exp(-Number(num) / Number(den));
    const se = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(hits / n - p) < 5 * se, `gamma=${num}/${den}: ${hits / n} vs ${p}`);
  }
});

test('Bernoulli(exp(0)) is always true and draws nothing', () => {
  for (let i = 0; i < 10; i++) assert.equal(sampleBernoulliExp({ num: 0n, den: 5n }, forbiddenSource), true);
  assert.throws(() => sampleBernoulliExp({ num: -1n, den: 2n }, forbiddenSource), RangeError);
});

test('Bernoulli(exp(-1/2)) follows Algorithm 1 draw by draw (fixed outputs)', () => {
  // K=1: Bernoulli(γ) = draw(2) < 1 -> 0 < 1 succeeds, K=2.
  // K=2: Bernoulli(1/2) = draw(2) == 0 -> 0 succeeds; Bernoulli(γ) = draw(2) < 1 -> 1 fails.
  // Stop with K = 2 (even) -> false.
  const rng = scriptedSource([[2n, 0n], [2n, 0n], [2n, 1n]]);
  assert.equal(sampleBernoulliExp({ num: 1n, den: 2n }, rng), false);
  rng.done();
  // Same γ, first Bernoulli(γ) fails at K=1 -> K odd -> true.
  const rng2 = scriptedSource([[2n, 1n]]);
  assert.equal(sampleBernoulliExp({ num: 1n, den: 2n }, rng2), true);
  rng2.done();
  // γ = 3/2: one Bernoulli(e^-1) first (K=2: draw(2) = 1 stops at even K -> fails) -> false at once.
  const rng3 = scriptedSource([[2n, 1n]]);
  assert.equal(sampleBernoulliExp({ num: 3n, den: 2n }, rng3), false);
  rng3.done();
});

test('discrete Laplace matches its pmf (chi-square, scale 3/2 and 40)', () => {
  const rng = seededRandomSource('laplace');
  for (const [num, den] of [[3n, 2n], [40n, 1n]] as const) {
    const scale = Number(num) / Number(den);
    const n = 100_000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const y = Number(sampleDiscreteLaplace({ num, den }, rng));
      counts.set(y, (counts.get(y) ?? 0) + 1);
    }
    // P[y] = (1 − e^{−1/s})/(1 + e^{−1/s}) · e^{−|y|/s}; pool the tails beyond ±cut.
    const r = Math.exp(-1 / scale);
    const c = (1 - r) / (1 + r);
    const cut = Math.ceil(scale * 6);
    const obs: number[] = [];
    const probs: number[] = [];
    let tailObs = 0;
    for (const [y, k] of counts) if (Math.abs(y) > cut) tailObs += k;
    for (let y = -cut; y <= cut; y++) {
      obs.push(counts.get(y) ?? 0);
      probs.push(c * r ** Math.abs(y));
    }
    obs.push(tailObs);
    probs.push(1 - probs.reduce((a, b) => a + b, 0));
    const stat = chiSquare(obs, probs, n);
    assert.ok(stat < chiSquareCritical(obs.length - 1), `scale ${scale}: chi-square ${stat} over ${obs.length} bins`);
  }
});
