/**
 * Mutations of valid serialized ciphertexts, each with an independent oracle
 * of what the validator must say about the result.
 *
 * The oracle is derived from SEAL's serialization (REFERENCE.md "SEAL 4.1
 * serialization"), not from the validator's code: the 113-byte prefix of every
 * ciphertext of a round is fixed, so any change to it must be refused; a
 * coefficient word is acceptable exactly when it is below its prime; length
 * is exact; c1 may not be all zero. A mutation whose outcome depends on the
 * bytes it produced (a bit flip in a coefficient) computes the expected
 * verdict from those bytes.
 */
import fc from 'fast-check';
import type { CiphertextFormat } from '@secagg/ckks';

/** What the validator must answer for a mutated ciphertext. */
export type Expected = 'accept' | 'reject';

export interface Mutated {
  /** Mutation name, for counting and failure messages. */
  kind: string;
  bytes: Uint8Array;
  expected: Expected;
}

/** Valid and foreign ciphertexts of one round format, from which mutations draw. */
export interface CiphertextPool {
  format: CiphertextFormat;
  /** Fresh ciphertexts of the round (its key, its parameters). */
  valid: readonly Uint8Array[];
  /** Well-formed ciphertexts of the round's parameters under another key: pass validation, decrypt to garbage. */
  otherKey: readonly Uint8Array[];
  /** Ciphertexts of other presets, encodings or scales: must be refused. */
  otherParameters: readonly Uint8Array[];
}

const DATA_OFFSET = 113;
const U64_MAX = 2n ** 64n - 1n;

/** Prime of the coefficient word `w` (index into the data words). */
function primeOf(format: CiphertextFormat, w: number): bigint {
  const n = format.polyModulusDegree;
  const k = format.moduli.length;
  return BigInt(format.moduli[Math.floor((w % (k * n)) / n)]!.decimal);
}

function wordCount(format: CiphertextFormat): number {
  return (format.byteLength - DATA_OFFSET) / 8;
}

function readWord(bytes: Uint8Array, w: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(DATA_OFFSET + 8 * w, true);
}

function writeWord(bytes: Uint8Array, w: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(DATA_OFFSET + 8 * w, value, true);
}

/** True when c1 (the second polynomial) is all zero. */
function c1IsZero(format: CiphertextFormat, bytes: Uint8Array): boolean {
  const start = DATA_OFFSET + (wordCount(format) / 2) * 8;
  for (let i = start; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The verdict a byte string of the round's exact length must get, given the
 * valid ciphertext it was derived from and the byte range that changed.
 */
function verdictAfterEdit(format: CiphertextFormat, original: Uint8Array, bytes: Uint8Array, from: number, to: number): Expected {
  if (bytes.length !== format.byteLength) return 'reject';
  for (let i = 0; i < Math.min(to, DATA_OFFSET); i++) if (bytes[i] !== original[i]) return 'reject';
  const first = Math.max(0, Math.floor((from - DATA_OFFSET) / 8));
  const last = Math.min(wordCount(format) - 1, Math.floor((to - 1 - DATA_OFFSET) / 8));
  for (let w = first; w <= last; w++) if (readWord(bytes, w) >= primeOf(format, w)) return 'reject';
  // A single edit can zero c1 only if it covers all of it; check when it could.
  if (to - from >= (wordCount(format) / 2) * 8 && c1IsZero(format, bytes)) return 'reject';
  return 'accept';
}

/** Every kind of mutation, as an arbitrary over a pool. */
export function mutatedCiphertext(pool: CiphertextPool): fc.Arbitrary<Mutated> {
  const { format } = pool;
  const length = format.byteLength;
  const words = wordCount(format);
  const pick = <T>(items: readonly T[]) => fc.nat(items.length - 1).map((i) => items[i]!);
  const base = pick(pool.valid);

  const bitFlips = fc
    .tuple(base, fc.array(fc.tuple(fc.nat(length - 1), fc.nat(7)), { minLength: 1, maxLength: 3 }))
    .map(([original, flips]): Mutated => {
      const bytes = original.slice();
      let expected: Expected = 'accept';
      for (const [at, bit] of flips) bytes[at]! ^= 1 << bit;
      for (const [at] of flips) if (verdictAfterEdit(format, original, bytes, at, at + 1) === 'reject') expected = 'reject';
      return { kind: 'bit-flip', bytes, expected };
    });

  const headerByte = fc.tuple(base, fc.nat(DATA_OFFSET - 1), fc.integer({ min: 1, max: 255 })).map(([original, at, xor]): Mutated => {
    const bytes = original.slice();
    bytes[at]! ^= xor; // never a no-op
    return { kind: 'header-byte', bytes, expected: 'reject' };
  });

  const coefficientAtLeastQ = fc
    .tuple(base, fc.nat(words - 1), fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 3n }), fc.bigInt({ min: 0n, max: U64_MAX })))
    .map(([original, w, above]): Mutated => {
      const bytes = original.slice();
      const q = primeOf(format, w);
      writeWord(bytes, w, q + (above % (U64_MAX - q + 1n)));
      return { kind: 'coefficient>=q', bytes, expected: 'reject' };
    });

  const coefficientBelowQ = fc.tuple(base, fc.nat(words - 1), fc.bigInt({ min: 0n, max: U64_MAX })).map(([original, w, value]): Mutated => {
    const bytes = original.slice();
    writeWord(bytes, w, value % primeOf(format, w));
    return { kind: 'coefficient<q', bytes, expected: 'accept' };
  });

  const randomWord = fc.tuple(base, fc.nat(words - 1), fc.bigInt({ min: 0n, max: U64_MAX })).map(([original, w, value]): Mutated => {
    const bytes = original.slice();
    writeWord(bytes, w, value);
    return { kind: 'random-word', bytes, expected: value < primeOf(format, w) ? 'accept' : 'reject' };
  });

  const unalignedWord = fc
    .tuple(base, fc.integer({ min: DATA_OFFSET, max: length - 8 }), fc.bigInt({ min: 0n, max: U64_MAX }))
    .map(([original, at, value]): Mutated => {
      const bytes = original.slice();
      new DataView(bytes.buffer).setBigUint64(at, value, true);
      return { kind: 'unaligned-word', bytes, expected: verdictAfterEdit(format, original, bytes, at, at + 8) };
    });

  const truncated = fc.tuple(base, fc.integer({ min: 0, max: length - 1 })).map(([original, keep]): Mutated => ({
    kind: 'truncated',
    bytes: original.slice(0, keep),
    expected: 'reject',
  }));

  const extended = fc.tuple(base, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([original, tail]): Mutated => {
    const bytes = new Uint8Array(original.length + tail.length);
    bytes.set(original);
    bytes.set(tail, original.length);
    return { kind: 'extended', bytes, expected: 'reject' };
  });

  const transparent = base.map((original): Mutated => {
    const bytes = original.slice();
    bytes.fill(0, DATA_OFFSET + (words / 2) * 8);
    return { kind: 'transparent', bytes, expected: 'reject' };
  });

  const randomBytes = fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((seed) => pseudoRandomBytes(length, seed))).map(
    (bytes): Mutated => ({ kind: 'random-bytes', bytes, expected: 'reject' }),
  );

  const spliced = fc.tuple(base, base, fc.integer({ min: DATA_OFFSET, max: length })).map(([a, b, cut]): Mutated => {
    const bytes = a.slice();
    bytes.set(b.subarray(cut), cut);
    // Every word is a whole word of a or of b except the one the cut may split.
    const w = Math.floor((cut - DATA_OFFSET) / 8);
    const expected = w < words && readWord(bytes, w) >= primeOf(format, w) ? 'reject' : 'accept';
    return { kind: 'spliced', bytes, expected };
  });

  const foreign: fc.Arbitrary<Mutated>[] = [];
  if (pool.otherKey.length > 0) foreign.push(pick(pool.otherKey).map((bytes): Mutated => ({ kind: 'other-key', bytes: bytes.slice(), expected: 'accept' })));
  if (pool.otherParameters.length > 0) {
    foreign.push(pick(pool.otherParameters).map((bytes): Mutated => ({ kind: 'other-parameters', bytes: bytes.slice(), expected: 'reject' })));
  }

  return fc.oneof(
    { arbitrary: bitFlips, weight: 5 },
    { arbitrary: headerByte, weight: 3 },
    { arbitrary: coefficientAtLeastQ, weight: 3 },
    { arbitrary: coefficientBelowQ, weight: 2 },
    { arbitrary: randomWord, weight: 2 },
    { arbitrary: unalignedWord, weight: 2 },
    { arbitrary: truncated, weight: 2 },
    { arbitrary: extended, weight: 2 },
    { arbitrary: transparent, weight: 1 },
    { arbitrary: randomBytes, weight: 1 },
    { arbitrary: spliced, weight: 1 },
    ...foreign.map((arbitrary) => ({ arbitrary, weight: 1 })),
  );
}

/** Mutations the validator must refuse (for streams that must fail). */
export function invalidCiphertext(pool: CiphertextPool): fc.Arbitrary<Mutated> {
  return mutatedCiphertext(pool).filter((m) => m.expected === 'reject');
}

/** `length` bytes from a small seeded generator (cheaper than fast-check for 64 KiB). */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bytes[i] = s & 0xff;
  }
  return bytes;
}
