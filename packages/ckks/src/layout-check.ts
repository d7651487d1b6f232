/**
 * Field-by-field checking of SEAL serializations (internal). The hot path
 * compares the whole fixed prefix byte for byte and then every coefficient
 * against its prime; only on a mismatch does {@link diagnosePrefix} walk the
 * field table to say precisely which field is wrong. Never dumps bytes.
 */
import { readU64ForMessage, viewOf } from './bytes.js';
import type { ModulusWords } from './format.js';
import { LITTLE_ENDIAN_HOST, wordsOf } from './words.js';

/** Result of a validation: `ok`, or a short precise reason. */
export type Validation = { ok: true } | { ok: false; reason: string };

export const VALID: Validation = Object.freeze({ ok: true });
export function invalid(reason: string): Validation {
  return { ok: false, reason };
}

type Render = (actual: DataView, expected: DataView, offset: number) => string;

/** One field of a fixed prefix: where it is and how to describe a mismatch. */
export interface FieldSpec {
  readonly offset: number;
  readonly length: number;
  readonly describe: Render;
}

const u64: (name: string) => Render = (name) => (a, e, o) => `${name} ${readU64ForMessage(a, o)} != ${readU64ForMessage(e, o)}`;

const COMPRESSION_NAMES = ['none', 'zlib', 'zstd'];

/** The 16-byte SEAL header at `base` (Serialization::SEALHeader). */
export function sealHeaderFields(base: number, what: string): FieldSpec[] {
  const p = what === '' ? '' : `${what}: `;
  return [
    { offset: base, length: 2, describe: () => `${p}not a SEAL object (bad magic)` },
    { offset: base + 2, length: 1, describe: (a, e, o) => `${p}SEAL header size ${a.getUint8(o)} != ${e.getUint8(o)}` },
    {
      offset: base + 3,
      length: 2,
      describe: (a, e, o) => `${p}SEAL version ${a.getUint8(o)}.${a.getUint8(o + 1)} != ${e.getUint8(o)}.${e.getUint8(o + 1)}`,
    },
    {
      offset: base + 5,
      length: 1,
      describe: (a, _e, o) => {
        const m = a.getUint8(o);
        return `${p}compression mode ${COMPRESSION_NAMES[m] ?? String(m)} != none`;
      },
    },
    { offset: base + 6, length: 2, describe: () => `${p}reserved SEAL header bytes are not zero` },
    { offset: base + 8, length: 8, describe: u64(`${p}declared size`) },
  ];
}

function describeScale(v: number): string {
  if (v > 0 && Number.isFinite(v)) {
    const l = Math.log2(v);
    if (Number.isInteger(l)) return `2^${l}`;
  }
  return String(v);
}

/** Fields of the 113-byte ciphertext prefix (Ciphertext::save_members, SEAL 4.1). */
export function ciphertextHeaderFields(what: string): FieldSpec[] {
  return [
    ...sealHeaderFields(0, ''),
    { offset: 16, length: 32, describe: () => `parms_id does not match the ${what}` },
    { offset: 48, length: 1, describe: (a, e, o) => `is_ntt_form ${a.getUint8(o)} != ${e.getUint8(o)}` },
    { offset: 49, length: 8, describe: u64('size') },
    { offset: 57, length: 8, describe: u64('poly_modulus_degree') },
    { offset: 65, length: 8, describe: u64('coeff modulus count') },
    {
      offset: 73,
      length: 8,
      describe: (a, e, o) => `scale ${describeScale(a.getFloat64(o, true))} != ${describeScale(e.getFloat64(o, true))}`,
    },
    { offset: 81, length: 8, describe: u64('correction factor') },
    ...sealHeaderFields(89, 'data array'),
    { offset: 105, length: 8, describe: u64('data element count') },
  ];
}

/** Fields of the 88-byte plaintext prefix (Plaintext::save_members; a SecretKey is one). */
export function plaintextHeaderFields(what: string): FieldSpec[] {
  return [
    ...sealHeaderFields(0, ''),
    { offset: 16, length: 32, describe: () => `parms_id does not match the ${what}` },
    { offset: 48, length: 8, describe: u64('coefficient count') },
    {
      offset: 56,
      length: 8,
      describe: (a, e, o) => `scale ${describeScale(a.getFloat64(o, true))} != ${describeScale(e.getFloat64(o, true))}`,
    },
    ...sealHeaderFields(64, 'data array'),
    { offset: 80, length: 8, describe: u64('data element count') },
  ];
}

/** Precise reason for the first field of `bytes` that differs from `expected` (call only when some byte differs). */
export function diagnosePrefix(fields: readonly FieldSpec[], bytes: Uint8Array, expected: Uint8Array): string {
  const a = viewOf(bytes);
  const e = viewOf(expected);
  for (const f of fields) {
    for (let i = f.offset; i < f.offset + f.length; i++) {
      if (bytes[i] !== expected[i]) return f.describe(a, e, f.offset);
    }
  }
  return 'header mismatch';
}

/** True if bytes[0, expected.length) equals `expected`. */
export function prefixMatches(bytes: Uint8Array, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

/**
 * Checks `polys` polynomials of k RNS components × n uint64 coefficients from
 * `offset`, each coefficient < its prime (SEAL's is_data_valid_for), as uint32
 * halves (no BigInt); works at any byteOffset. The low half is only read when
 * the high half ties the prime's. Returns the reason for the first offending
 * coefficient, or undefined.
 */
export function checkCoefficients(
  bytes: Uint8Array,
  offset: number,
  polys: number,
  moduli: readonly ModulusWords[],
  n: number,
  polyName: (poly: number) => string,
): string | undefined {
  const k = moduli.length;
  const byteLength = polys * k * n * 8;
  if (!LITTLE_ENDIAN_HOST) return checkCoefficientsDataView(viewOf(bytes), offset, polys, moduli, n, polyName);
  const at = wordsOf(bytes, offset, byteLength, 0);
  const words = new Uint32Array(at.buffer, at.byteOffset, byteLength / 4);
  let w = 0;
  for (let poly = 0; poly < polys; poly++) {
    for (let j = 0; j < k; j++) {
      const m = moduli[j]!;
      const qhi = m.hi;
      const qlo = m.lo;
      const start = w;
      const end = w + 2 * n;
      for (; w < end; w += 2) {
        const hi = words[w + 1]!;
        if (hi >= qhi && (hi > qhi || words[w]! >= qlo)) return coefficientReason(poly, j, k, (w - start) / 2, polyName);
      }
    }
  }
  return undefined;
}

function coefficientReason(poly: number, j: number, k: number, i: number, polyName: (poly: number) => string): string {
  return `coefficient ${i} of ${polyName(poly)}${k > 1 ? ` (prime ${j})` : ''} >= q`;
}

/** Portable path for big-endian hosts; exported for tests. */
export function checkCoefficientsDataView(
  view: DataView,
  offset: number,
  polys: number,
  moduli: readonly ModulusWords[],
  n: number,
  polyName: (poly: number) => string,
): string | undefined {
  const k = moduli.length;
  let off = offset;
  for (let poly = 0; poly < polys; poly++) {
    for (let j = 0; j < k; j++) {
      const m = moduli[j]!;
      const start = off;
      const end = off + n * 8;
      for (; off < end; off += 8) {
        const hi = view.getUint32(off + 4, true);
        if (hi >= m.hi && (hi > m.hi || view.getUint32(off, true) >= m.lo)) return coefficientReason(poly, j, k, (off - start) / 8, polyName);
      }
    }
  }
  return undefined;
}

/** True if bytes[from, to) are all zero (stops at the first non-zero byte). */
export function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

