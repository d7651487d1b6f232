/**
 * Throughput measurement of the dp package's exact discrete Gaussian sampler
 * (a benchmark, not a test: nothing asserts on speed).
 *
 *   node tools/bench/dist/sampler-bench.js [sigmaGrid=1000] [samples=2000000]
 *
 * @module
 */

import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { cryptoRandomSource, DiscreteGaussianSampler, type RandomSource } from '@secagg/dp';

/** Result of {@link benchDiscreteGaussian}. */
export interface SamplerBenchResult {
  sigmaGrid: number;
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  /** Whether the exact-in-doubles fast path was used. */
  fastPath: boolean;
  /** Empirical variance of the samples, a sanity check (≈ σ²). */
  variance: number;
}

/**
 * Draws `samples` discrete Gaussian samples with σ = `sigmaGrid` grid units
 * (σ² = sigmaGrid² exactly) and reports samples per second, wall clock,
 * after a short warm-up.
 *
 * @param opts.rng defaults to {@link cryptoRandomSource} (the release setting).
 */
export function benchDiscreteGaussian(
  sigmaGrid: number,
  samples = 2_000_000,
  opts: { rng?: RandomSource } = {},
): SamplerBenchResult {
  if (!(Number.isSafeInteger(sigmaGrid) && sigmaGrid >= 1)) throw new RangeError('sigmaGrid must be a positive safe integer');
  const s = BigInt(sigmaGrid);
  const sampler = new DiscreteGaussianSampler({ num: s * s, den: 1n }, opts.rng ?? cryptoRandomSource());
  for (let i = 0; i < 50_000; i++) sampler.sampleNumber(); // warm-up (JIT)
  let sum = 0;
  let sumSq = 0;
  const t0 = performance.now();
  for (let i = 0; i < samples; i++) {
    const y = sampler.sampleNumber();
    sum += y;
    sumSq += y * y;
  }
  const seconds = (performance.now() - t0) / 1000;
  const mean = sum / samples;
  return {
    sigmaGrid,
    samples,
    seconds,
    samplesPerSecond: samples / seconds,
    fastPath: sampler.fastPath,
    variance: sumSq / samples - mean * mean,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = benchDiscreteGaussian(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 2_000_000));
  console.log(JSON.stringify(result));
}
