/**
 * Release noise: the decrypted sum is quantized to an output grid and gets
 * discrete Gaussian noise of standard deviation sigma = z * C per coordinate
 * (Canonne, Kamath, Steinke 2020), drawn from a cryptographic RNG.
 */
import { addDiscreteGaussianNoise, cryptoRandomSource, type RandomSource } from '@secagg/dp';

export interface NoisePlan {
  /** Standard deviation per coordinate, in the update's unit; 0 for an unsafe noise-free release. */
  sigma: number;
  /** Output grid spacing; 0 when no quantization is applied (noise-free release). */
  gridStep: number;
}

/** The grid sits this many powers of two below both sigma and the per-coordinate share of the sensitivity. */
const GRID_BITS_BELOW = 10;
/** ...but never more than this many below sigma, so the sampler's integers stay in its exact fast path (σ/grid ≤ 2^27). */
const MAX_GRID_BITS_BELOW_SIGMA = 26;

/**
 * The grid is a power of two about 2^10 below min(sigma, Δ/√d), where Δ is
 * the L2 sensitivity without rounding (C or 2C) and d the vector length.
 * - below sigma: quantization changes the noise distribution negligibly;
 * - below Δ/√d: rounding every coordinate to the grid can move a sum by up to
 *   grid·√d in L2 (dp's `roundedL2Sensitivity`), which the accountant adds to
 *   the sensitivity; this keeps that addition ≈ 2^-10·Δ even for 10^8 values
 *   instead of letting it exceed Δ itself;
 * - but at most 2^26 below sigma (very large z·√d), so the exact sampler works
 *   on integers it handles without bigint; the accountant then charges the
 *   larger rounding term, never an unaccounted one.
 */
export function planNoise(
  noiseMultiplier: number,
  clipNorm: number,
  baseSensitivity: number,
  vectorLength: number,
  noiseFree: boolean,
): NoisePlan {
  if (noiseFree) return { sigma: 0, gridStep: 0 };
  const sigma = noiseMultiplier * clipNorm;
  const fine = Math.min(sigma, baseSensitivity / Math.sqrt(Math.max(1, vectorLength))) * 2 ** -GRID_BITS_BELOW;
  const floor = sigma * 2 ** -MAX_GRID_BITS_BELOW_SIGMA;
  return { sigma, gridStep: 2 ** Math.floor(Math.log2(Math.max(fine, floor))) };
}

/** Values noised per call of the dp sampler: bounds the temporary copy it returns (512 KiB). */
export const NOISE_RUN_VALUES = 65_536;

/**
 * Quantizes `values` to the plan's grid and adds the noise, IN PLACE (a
 * noise-free plan leaves them untouched): the noise-free values never
 * coexist with a full noisy copy, and memory stays one vector plus one run.
 * `addDiscreteGaussianNoise` returns a new array, so it runs over
 * `runValues` values at a time and each run is written back; every
 * coordinate still gets one independent sample from the same sampler
 * parameters, so the release is distributed exactly as one call over the
 * whole vector (with a deterministic rng: bit-identical, noise.test.ts).
 * Throws RangeError on a non-finite value (after the range check, none).
 */
export function applyNoiseInPlace(
  values: Float64Array,
  plan: NoisePlan,
  rng: RandomSource = cryptoRandomSource(),
  runValues: number = NOISE_RUN_VALUES,
): void {
  if (plan.sigma === 0) return;
  if (!(Number.isSafeInteger(runValues) && runValues > 0)) throw new RangeError(`runValues ${runValues} is not a positive integer`);
  for (let start = 0; start < values.length; start += runValues) {
    const end = Math.min(values.length, start + runValues);
    values.set(addDiscreteGaussianNoise(values.subarray(start, end), plan.sigma, plan.gridStep, rng), start);
  }
}
