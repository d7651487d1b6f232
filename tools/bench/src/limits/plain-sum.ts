/** The no-encryption limit of a fold: adding plain float32 vectors. */
import { rateOf } from '../timing.js';

/** Values/s of `acc[i] += x[i]` over Float32Arrays of 64 Ki values (cache-resident, one thread). */
export function plainFloat32SumRate(minSeconds: number): number {
  const acc = new Float32Array(1 << 16);
  const x = new Float32Array(1 << 16).fill(0.5);
  return rateOf(() => {
    for (let i = 0; i < acc.length; i++) acc[i]! += x[i]!;
    return acc.length;
  }, minSeconds);
}
