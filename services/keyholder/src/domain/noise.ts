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

/**
 * The grid is a power of two about 2^10 below sigma: fine enough that
 * quantization changes the noise distribution negligibly, coarse enough that
 * the noise in grid units stays a modest integer.
 */
export function planNoise(noiseMultiplier: number, clipNorm: number, noiseFree: boolean): NoisePlan {
  if (noiseFree) return { sigma: 0, gridStep: 0 };
  const sigma = noiseMultiplier * clipNorm;
  return { sigma, gridStep: 2 ** (Math.floor(Math.log2(sigma)) - 10) };
}

export function applyNoise(values: Float64Array, plan: NoisePlan, rng: RandomSource = cryptoRandomSource()): Float64Array {
  if (plan.sigma === 0) return values;
  return addDiscreteGaussianNoise(values, plan.sigma, plan.gridStep, rng);
}
