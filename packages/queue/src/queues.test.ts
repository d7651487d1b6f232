import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { cappedExponentialBackoff } from './queues.js';

describe('job retry delays', () => {
  it('double from the initial delay up to the cap and stay there, however many attempts (±20% jitter)', () => {
    const delay = cappedExponentialBackoff(500, 30_000);
    const within = (value: number, base: number) => value >= base * 0.8 - 1 && value <= base * 1.2 + 1;
    for (const [attempt, base] of [[1, 500], [2, 1_000], [3, 2_000], [6, 16_000], [7, 30_000], [1_000, 30_000], [Number.MAX_SAFE_INTEGER, 30_000]] as const) {
      for (let i = 0; i < 20; i++) {
        const value = delay(attempt);
        assert.ok(within(value, base), `attempt ${attempt}: ${value} not within 20% of ${base}`);
      }
    }
  });
});
