/**
 * Coefficient encoding, the pure half (issue "Half the bytes per value"): value
 * i of a chunk becomes plaintext coefficient i as round(x·scale) mod q_j for
 * every prime q_j, so one ciphertext carries N values instead of SEAL's N/2
 * slots. The SEAL half (NTT via a crafted ciphertext) lives in the engine.
 *
 * All arithmetic is exact in doubles on 32-bit halves: |round(x·scale)| <
 * 2^53 is enforced by the caller (maxRepresentable), primes are < 2^61.
 */
import { TWO_32 } from './bytes.js';
import type { ModulusWords } from './format.js';

/**
 * Writes the RNS residues of round(values[i]·scale) (0 past values.length) for
 * i < n into k consecutive blocks of n uint64 at `offset`, one block per prime
 * (SEAL's layout of one polynomial). Caller guarantees |values[i]·scale| ≤ 2^53 - 1.
 */
export function writeCoefficientResidues(
  view: DataView,
  offset: number,
  values: ArrayLike<number>,
  scale: number,
  moduli: readonly ModulusWords[],
  n: number,
): void {
  const count = values.length;
  let off = offset;
  for (const m of moduli) {
    const p = m.hi * TWO_32 + m.lo; // exact when p < 2^53; only compared/divided otherwise
    const small = p <= Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < n; i++, off += 8) {
      const v = i < count ? Math.round(values[i]! * scale) : 0;
      let a = v < 0 ? -v : v; // |v| ≤ 2^53 - 1, exact
      if (small && a >= p) {
        // |v| mod p: the quotient estimate may be off by one; the product t·p < 2^53 is exact.
        const t = Math.floor(a / p);
        a -= t * p;
        if (a < 0) a += p;
        else if (a >= p) a -= p;
      }
      let hi = Math.floor(a / TWO_32);
      let lo = a - hi * TWO_32;
      if (v < 0 && a !== 0) {
        // p - a, as halves (p may exceed 2^53).
        lo = m.lo - lo;
        hi = m.hi - hi;
        if (lo < 0) {
          lo += TWO_32;
          hi -= 1;
        }
      }
      view.setUint32(off, lo, true);
      view.setUint32(off + 4, hi, true);
    }
  }
}

/**
 * Reads `count` coefficients (residues mod `m`) from `offset`, centres them in
 * (-q/2, q/2] like SEAL's decoder (threshold (q+1)/2), divides by `scale`, and
 * writes them to `out`. Exact while |centred value| < 2^53.
 */
export function readCenteredCoefficients(
  view: DataView,
  offset: number,
  m: ModulusWords,
  scale: number,
  out: Float64Array,
  count: number,
): void {
  // (q+1)/2 as halves: q + 1 normalised, then halved with the high bit carried down.
  let q1lo = m.lo + 1;
  let q1hi = m.hi;
  if (q1lo === TWO_32) {
    q1lo = 0;
    q1hi += 1;
  }
  const halfHi = Math.floor(q1hi / 2);
  const halfLo = ((q1hi % 2) * TWO_32 + q1lo) / 2;
  const inv = 1 / scale; // scale is a power of two: exact
  let off = offset;
  for (let i = 0; i < count; i++, off += 8) {
    const lo = view.getUint32(off, true);
    const hi = view.getUint32(off + 4, true);
    let v: number;
    if (hi > halfHi || (hi === halfHi && lo >= halfLo)) {
      // negative: -(q - r)
      let dlo = m.lo - lo;
      let dhi = m.hi - hi;
      if (dlo < 0) {
        dlo += TWO_32;
        dhi -= 1;
      }
      v = -(dhi * TWO_32 + dlo);
    } else {
      v = hi * TWO_32 + lo;
    }
    out[i] = v * inv;
  }
}
