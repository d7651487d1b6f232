/**
 * Client-side clipping: the update is scaled to L2 norm <= C before it is
 * encrypted. The server cannot check this under encryption, so differential
 * privacy rests on clients doing it (docs/PRIVACY.md); the SDK always does.
 */
export interface ClipResult {
  values: Float64Array;
  /** L2 norm before clipping. */
  originalNorm: number;
  /** True when the update was scaled down. */
  clipped: boolean;
}

export function clipToNorm(values: ArrayLike<number>, clipNorm: number): ClipResult {
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`value ${i} is not finite`);
    sumSquares += v * v;
  }
  const originalNorm = Math.sqrt(sumSquares);
  const out = Float64Array.from(values as ArrayLike<number>);
  if (originalNorm <= clipNorm) return { values: out, originalNorm, clipped: false };
  // Scale slightly below C so float rounding can never leave the norm above it.
  const factor = (clipNorm / originalNorm) * (1 - 1e-12);
  for (let i = 0; i < out.length; i++) out[i]! *= factor;
  return { values: out, originalNorm, clipped: true };
}
