/**
 * Plain-data descriptions of SEAL serializations, from which bytes can be
 * validated and added without SEAL (REFERENCE.md "SEAL 4.1 serialization").
 *
 * Every fresh ciphertext of one round shares the same first 113 bytes: SEAL
 * header (magic 0xA15E, header size 16, version 4.1, compression none, total
 * size), parms_id, is_ntt_form = 1, size = 2, N, k, scale, correction factor
 * = 1, the inner array's own 16-byte header and its element count. So the
 * format records that prefix verbatim, plus the primes each coefficient must be
 * below.
 */
import { bytesToHex, hexToBytes, u64Words, viewOf, writeU64 } from './bytes.js';
import type { U64Words } from './bytes.js';
import { CkksError } from './errors.js';
import { assertCkksParams, CIPHERTEXT_DATA_OFFSET, dataPrimeCount, PRESETS } from './presets.js';
import type { CkksParams, PresetName } from './presets.js';
import { SEAL_CONSTANTS } from './seal-constants.js';

/** A prime of the coefficient modulus: decimal, bit size, and 32-bit halves for typed-array arithmetic. */
export interface ModulusWords extends U64Words {
  readonly decimal: string;
  readonly bits: number;
}

/**
 * Everything needed to validate and add serialized ciphertexts of one round.
 * Plain data only (strings and numbers): structured-cloneable and JSON-safe, so
 * it can cross worker threads and queues.
 */
export interface CiphertextFormat {
  readonly preset: PresetName;
  /** log2 of the scale recorded in every ciphertext of the round. */
  readonly scaleBits: number;
  /** N. */
  readonly polyModulusDegree: number;
  /** Polynomials per ciphertext: 2 (fresh ciphertexts and sums of them). */
  readonly polyCount: 2;
  /** Data-level primes in RNS order (k = moduli.length); coefficient j·N+i of a polynomial is < moduli[j]. */
  readonly moduli: readonly ModulusWords[];
  /** SEAL parms_id of the data level, 32 bytes as serialized, hex. */
  readonly parmsIdHex: string;
  /** The exact expected bytes [0, dataOffset), hex: header fields above plus SEAL version 4.1, compression none, total size, correction factor 1, inner array header. */
  readonly headerHex: string;
  /** Byte offset of the first coefficient (113). */
  readonly dataOffset: number;
  /** Exact total length: dataOffset + polyCount·k·N·8. */
  readonly byteLength: number;
}

/** SEAL's 16-byte object header: magic, header size, version 4.1, compression none, reserved, total size. */
export function writeSealHeader(view: DataView, offset: number, totalSize: number): void {
  view.setUint16(offset, 0xa15e, true);
  view.setUint8(offset + 2, 16);
  view.setUint8(offset + 3, 4);
  view.setUint8(offset + 4, 1);
  view.setUint8(offset + 5, 0);
  view.setUint16(offset + 6, 0, true);
  writeU64(view, offset + 8, totalSize);
}

export interface CiphertextHeaderFields {
  totalSize: number;
  parmsId: Uint8Array;
  isNttForm: boolean;
  size: number;
  polyModulusDegree: number;
  coeffModulusCount: number;
  scale: number;
  /** uint64 coefficients that follow (size·k·N, or k·N for a seeded public key). */
  elementCount: number;
}

/** Writes the 113-byte ciphertext prefix (Ciphertext::save_members in SEAL 4.1). */
export function writeCiphertextHeader(view: DataView, f: CiphertextHeaderFields): void {
  writeSealHeader(view, 0, f.totalSize);
  new Uint8Array(view.buffer, view.byteOffset + 16, 32).set(f.parmsId);
  view.setUint8(48, f.isNttForm ? 1 : 0);
  writeU64(view, 49, f.size);
  writeU64(view, 57, f.polyModulusDegree);
  writeU64(view, 65, f.coeffModulusCount);
  view.setFloat64(73, f.scale, true);
  writeU64(view, 81, 1); // correction factor: always 1 in CKKS (SEAL valcheck)
  writeSealHeader(view, 89, 16 + 8 + f.elementCount * 8);
  writeU64(view, 105, f.elementCount);
}

/** Byte offset of the first coefficient of a serialized Plaintext. */
export const PLAINTEXT_DATA_OFFSET = 88;

/** Writes the 88-byte plaintext prefix (Plaintext::save_members): parms_id, coeff count, scale, inner array header and count. */
export function writePlaintextHeader(view: DataView, parmsId: Uint8Array, coeffCount: number, scale: number): void {
  writeSealHeader(view, 0, PLAINTEXT_DATA_OFFSET + coeffCount * 8);
  new Uint8Array(view.buffer, view.byteOffset + 16, 32).set(parmsId);
  writeU64(view, 48, coeffCount);
  view.setFloat64(56, scale, true);
  writeSealHeader(view, 64, 16 + 8 + coeffCount * 8);
  writeU64(view, 80, coeffCount);
}

export function modulusWords(decimal: string): ModulusWords {
  const v = BigInt(decimal);
  if (v < 2n || v >= 1n << 61n) throw new CkksError('seal_mismatch', `coefficient prime ${decimal} out of the supported range [2, 2^61)`);
  return { decimal, bits: v.toString(2).length, ...u64Words(v) };
}

/**
 * Builds a format from its parts; {@link ciphertextFormat} uses the recorded
 * SEAL constants, `CkksEngine` the values SEAL computes.
 */
export function buildCiphertextFormat(params: CkksParams, parmsIdHex: string, primes: readonly string[]): CiphertextFormat {
  assertCkksParams(params);
  const preset = PRESETS[params.preset];
  const n = preset.polyModulusDegree;
  const k = primes.length;
  if (k !== dataPrimeCount(preset)) throw new CkksError('seal_mismatch', `${preset.name}: ${k} data primes, expected ${dataPrimeCount(preset)}`);
  const parmsId = hexToBytes(parmsIdHex);
  if (parmsId.length !== 32) throw new CkksError('seal_mismatch', 'parms_id must be 32 bytes');
  const elementCount = 2 * k * n;
  const byteLength = CIPHERTEXT_DATA_OFFSET + elementCount * 8;
  const header = new Uint8Array(CIPHERTEXT_DATA_OFFSET);
  writeCiphertextHeader(viewOf(header), {
    totalSize: byteLength,
    parmsId,
    isNttForm: true, // CKKS ciphertexts live in NTT form
    size: 2,
    polyModulusDegree: n,
    coeffModulusCount: k,
    scale: 2 ** params.scaleBits,
    elementCount,
  });
  return Object.freeze({
    preset: preset.name,
    scaleBits: params.scaleBits,
    polyModulusDegree: n,
    polyCount: 2,
    moduli: Object.freeze(primes.map((p) => Object.freeze(modulusWords(p)))),
    parmsIdHex: parmsIdHex.toLowerCase(),
    headerHex: bytesToHex(header),
    dataOffset: CIPHERTEXT_DATA_OFFSET,
    byteLength,
  });
}

/** The ciphertext format of `params`, from the recorded SEAL 4.1.2 constants: no SEAL needed. */
export function ciphertextFormat(params: CkksParams): CiphertextFormat {
  assertCkksParams(params);
  const c = SEAL_CONSTANTS[params.preset];
  return buildCiphertextFormat(params, c.dataParmsIdHex, c.dataPrimes);
}

const headerCache = new WeakMap<CiphertextFormat, Uint8Array>();

/** The expected prefix bytes of `format`, decoded once per format object. */
export function expectedHeader(format: CiphertextFormat): Uint8Array {
  let h = headerCache.get(format);
  if (h === undefined) {
    h = hexToBytes(format.headerHex);
    if (h.length !== format.dataOffset) throw new CkksError('invalid_params', 'ciphertext format: headerHex does not match dataOffset');
    headerCache.set(format, h);
  }
  return h;
}
