/**
 * In-place radix-2 complex FFT on Float64Arrays, for the PLD accountant's
 * convolutions (composition of privacy loss distributions).
 *
 * Iterative Cooley–Tukey (decimation in time, bit-reversed input). Twiddle
 * factors are computed directly with Math.cos / Math.sin for every index, not
 * by a recurrence, so their error stays at one rounding (≈ 1e-16) whatever
 * the size; the transform's round-off then grows like ε_mach·log₂N.
 *
 * @module
 */

/** e^{−iπk/half} for every stage: entry half + k, 0 ≤ k < half, so each stage reads its factors contiguously. */
interface Twiddles {
  cos: Float64Array;
  sin: Float64Array;
}

const twiddleCache = new Map<number, Twiddles>();

function twiddles(n: number): Twiddles {
  let t = twiddleCache.get(n);
  if (t === undefined) {
    const cos = new Float64Array(n);
    const sin = new Float64Array(n);
    for (let half = 1; half < n; half *= 2) {
      for (let k = 0; k < half; k++) {
        const angle = (-Math.PI * k) / half;
        cos[half + k] = Math.cos(angle);
        sin[half + k] = Math.sin(angle);
      }
    }
    t = { cos, sin };
    // Few distinct sizes occur (powers of two); keep the cache small anyway.
    if (twiddleCache.size > 8) twiddleCache.clear();
    twiddleCache.set(n, t);
  }
  return t;
}

/** Smallest power of two ≥ n (n ≥ 1). */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Discrete Fourier transform of (re, im) in place: X_k = Σ_j x_j e^{∓2πijk/N}
 * (− for forward, + for inverse). The inverse is scaled by 1/N, so
 * `fft(x); fft(x, true)` returns x up to round-off.
 *
 * @param re real parts, length N a power of two.
 * @param im imaginary parts, same length.
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (im.length !== n) throw new RangeError(`fft: re and im lengths differ (${n} vs ${im.length})`);
  if (n === 0 || (n & (n - 1)) !== 0) throw new RangeError(`fft: length must be a power of two, got ${n}`);
  // Bit-reversal permutation.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i]!;
      re[i] = re[j]!;
      re[j] = t;
      t = im[i]!;
      im[i] = im[j]!;
      im[j] = t;
    }
  }
  const { cos, sin: sinTable } = twiddles(n);
  const sign = inverse ? -1 : 1;
  for (let size = 2; size <= n; size *= 2) {
    const half = size >> 1;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[half + k]!;
        const wi = sign * sinTable[half + k]!;
        const a = start + k;
        const b = a + half;
        const xr = re[b]! * wr - im[b]! * wi;
        const xi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
      }
    }
  }
  if (inverse) {
    const scale = 1 / n;
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! * scale;
      im[i] = im[i]! * scale;
    }
  }
}
