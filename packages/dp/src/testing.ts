/**
 * Helpers of this package's tests (χ² checks, scripted random sources),
 * exported as `@secagg/dp/testing` for tests only, never from the main entry.
 *
 * @module
 */

import assert from 'node:assert/strict';
import type { RandomSource } from './rng.js';

/**
 * Upper critical value of the χ² distribution with `df` degrees of freedom at
 * normal quantile `z` (z = 3.719 ↔ p = 1e-4), by the Wilson–Hilferty
 * approximation (accurate to a few percent for df ≥ 3, plenty for a
 * pass/fail threshold).
 */
export function chiSquareCritical(df: number, z = 3.719): number {
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** Pearson χ² statistic of observed counts against expected probabilities. */
export function chiSquare(observed: readonly number[], probabilities: readonly number[], total: number): number {
  let stat = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = probabilities[i]! * total;
    stat += (observed[i]! - e) ** 2 / e;
  }
  return stat;
}

/**
 * A RandomSource that replays a script of (expected bound, value) pairs and
 * fails the test on any call it did not expect. `done()` asserts the script
 * was consumed exactly.
 */
export function scriptedSource(script: ReadonlyArray<readonly [bigint, bigint]>): RandomSource & { done(): void } {
  let i = 0;
  return {
    randomBelow(n: bigint): bigint {
      const step = script[i];
      assert.ok(step, `unexpected draw #${i} randomBelow(${n}): script exhausted`);
      assert.equal(n, step[0], `draw #${i}: bound`);
      assert.ok(step[1] >= 0n && step[1] < n, `draw #${i}: scripted value out of range`);
      i++;
      return step[1];
    },
    done(): void {
      assert.equal(i, script.length, 'script not fully consumed');
    },
  };
}

/** A RandomSource that fails the test if it is used at all. */
export const forbiddenSource: RandomSource = {
  randomBelow(): bigint {
    throw new Error('this computation must not consume randomness');
  },
};

/** Asserts |actual − expected| ≤ rtol·|expected| (and equality for ±∞). */
export function assertClose(actual: number, expected: number, rtol: number, message?: string): void {
  if (!Number.isFinite(expected)) {
    assert.equal(actual, expected, message);
    return;
  }
  const err = Math.abs(actual - expected);
  assert.ok(
    err <= rtol * Math.abs(expected),
    `${message ?? ''} expected ${expected}, got ${actual} (relative error ${err / Math.abs(expected)} > ${rtol})`,
  );
}
