/**
 * The updates the benchmark submits: deterministic pseudo-random vectors, so
 * the benchmark can compute the true sum of what its client processes
 * encrypted and check the released result (a benchmark of a wrong answer is
 * worthless).
 */
import { clipToNorm } from '@secagg/sdk';

/**
 * A float32 update of `length` values with L2 norm about `norm`, from `seed`
 * (mulberry32): uniform in ±norm·√(3/length), whose expected squared norm is norm².
 */
export function makeUpdate(length: number, seed: number, norm: number): Float32Array {
  const values = new Float32Array(length);
  const amplitude = norm * Math.sqrt(3 / length);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    values[i] = (u * 2 - 1) * amplitude;
  }
  return values;
}

/** The float64 sum of the clipped updates of `seeds`, built one update at a time (memory: two vectors). */
export function clippedSumOf(length: number, seeds: readonly number[], norm: number, clipNorm: number): Float64Array {
  const sum = new Float64Array(length);
  for (const seed of seeds) {
    const clipped = clipToNorm(makeUpdate(length, seed, norm), clipNorm).values;
    for (let i = 0; i < length; i++) sum[i]! += clipped[i]!;
  }
  return sum;
}

/** max |a[i] - b[i]|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
  }
  return max;
}
