/**
 * Validation of client ciphertexts before SEAL or the aggregate sees them.
 * Pure TypeScript, no SEAL (DESIGN.md §6: every exception thrown out of the
 * WASM leaks stack, so client bytes must never make SEAL throw).
 *
 * Checks, in order: exact length; the whole 113-byte prefix against the
 * round's (magic, SEAL version 4.1, compression none, declared size, parms_id,
 * is_ntt_form = 1, size = 2, N, k, scale, correction factor 1, inner array
 * header and element count); every coefficient < its prime; and that c1 is not
 * all zero (a "transparent" ciphertext is the plaintext in the clear: a client
 * bug, and SEAL's throwing build refuses to compute on it). These are exactly
 * the checks of SEAL 4.1's `Ciphertext::load` (valcheck.cpp), made stricter, so
 * whatever passes loads in SEAL without throwing (property-tested).
 */
import { expectedHeader } from './format.js';
import type { CiphertextFormat } from './format.js';
import { allZero, checkCoefficients, ciphertextHeaderFields, diagnosePrefix, invalid, prefixMatches, VALID } from './layout-check.js';
import type { Validation } from './layout-check.js';

export type { Validation } from './layout-check.js';

const FIELDS = ciphertextHeaderFields("round's parameters");
const polyName = (poly: number): string => `polynomial ${poly}`;

/**
 * Validates one serialized ciphertext against the round's format. Never
 * throws on any input bytes; accepts views at any byteOffset. The reason is
 * short and precise, e.g. `length 100 != 65649`, `scale 2^30 != 2^40`,
 * `coefficient 17 of polynomial 1 >= q`.
 */
export function validateCiphertext(format: CiphertextFormat, bytes: Uint8Array): Validation {
  if (!(bytes instanceof Uint8Array)) return invalid('ciphertext is not a byte array');
  if (bytes.length !== format.byteLength) return invalid(`length ${bytes.length} != ${format.byteLength}`);
  const header = expectedHeader(format);
  if (!prefixMatches(bytes, header)) return invalid(diagnosePrefix(FIELDS, bytes, header));
  const n = format.polyModulusDegree;
  const bad = checkCoefficients(bytes, format.dataOffset, format.polyCount, format.moduli, n, polyName);
  if (bad !== undefined) return invalid(bad);
  const c1 = format.dataOffset + format.moduli.length * n * 8;
  if (allZero(bytes, c1, format.byteLength)) return invalid('polynomial 1 is zero (transparent ciphertext)');
  return VALID;
}
