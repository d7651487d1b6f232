/**
 * Validation of serialized keys before SEAL loads them (DESIGN.md §6: nothing
 * unchecked reaches `load()`). Pure TypeScript, no SEAL.
 *
 * - A PublicKey is a size-2 Ciphertext at the key level (all primes), scale 1.
 *   We accept both forms SEAL writes: full (`113 + 16·k·N` bytes) and seeded
 *   (`KeyGenerator::create_public_key` serializable form: c0 only, `113 + 8·k·N`
 *   bytes, then an 81-byte UniformRandomGeneratorInfo from which SEAL
 *   regenerates c1 on load — 32,962 bytes for n4096-q54, REFERENCE.md).
 * - A SecretKey is an NTT-form Plaintext at the key level, scale 1: `88 + 8·k·N` bytes.
 */
import { hexToBytes, viewOf } from './bytes.js';
import { modulusWords, PLAINTEXT_DATA_OFFSET, writeCiphertextHeader, writePlaintextHeader, writeSealHeader } from './format.js';
import type { ModulusWords } from './format.js';
import {
  checkCoefficients,
  ciphertextHeaderFields,
  diagnosePrefix,
  invalid,
  plaintextHeaderFields,
  prefixMatches,
  sealHeaderFields,
  VALID,
} from './layout-check.js';
import type { Validation } from './layout-check.js';
import { CIPHERTEXT_DATA_OFFSET, getPreset } from './presets.js';
import type { PresetName } from './presets.js';
import { SEAL_CONSTANTS } from './seal-constants.js';

/** Size of the UniformRandomGeneratorInfo a seeded object carries: SEAL header, PRNG type byte, 64-byte seed. */
const PRNG_INFO_BYTES = 16 + 1 + 64;
/** SEAL's prng_type: blake2xb = 1, shake256 = 2 (0 = unknown is rejected by SEAL's load). */
const VALID_PRNG_TYPES = new Set([1, 2]);

interface KeyLayouts {
  readonly n: number;
  readonly moduli: readonly ModulusWords[];
  readonly seededLength: number;
  readonly seededHeader: Uint8Array;
  readonly prngHeader: Uint8Array;
  readonly fullLength: number;
  readonly fullHeader: Uint8Array;
  readonly secretLength: number;
  readonly secretHeader: Uint8Array;
}

const layouts = new Map<PresetName, KeyLayouts>();

function keyLayouts(name: PresetName): KeyLayouts {
  let l = layouts.get(name);
  if (l !== undefined) return l;
  const preset = getPreset(name);
  const c = SEAL_CONSTANTS[name];
  const n = preset.polyModulusDegree;
  const k = c.keyPrimes.length;
  const parmsId = hexToBytes(c.keyParmsIdHex);
  const common = { parmsId, isNttForm: true, size: 2, polyModulusDegree: n, coeffModulusCount: k, scale: 1 };
  const seededLength = CIPHERTEXT_DATA_OFFSET + k * n * 8 + PRNG_INFO_BYTES;
  const seededHeader = new Uint8Array(CIPHERTEXT_DATA_OFFSET);
  writeCiphertextHeader(viewOf(seededHeader), { ...common, totalSize: seededLength, elementCount: k * n });
  const prngHeader = new Uint8Array(16);
  writeSealHeader(viewOf(prngHeader), 0, PRNG_INFO_BYTES);
  const fullLength = CIPHERTEXT_DATA_OFFSET + 2 * k * n * 8;
  const fullHeader = new Uint8Array(CIPHERTEXT_DATA_OFFSET);
  writeCiphertextHeader(viewOf(fullHeader), { ...common, totalSize: fullLength, elementCount: 2 * k * n });
  const secretLength = PLAINTEXT_DATA_OFFSET + k * n * 8;
  const secretHeader = new Uint8Array(PLAINTEXT_DATA_OFFSET);
  writePlaintextHeader(viewOf(secretHeader), parmsId, k * n, 1);
  l = {
    n,
    moduli: c.keyPrimes.map(modulusWords),
    seededLength,
    seededHeader,
    prngHeader,
    fullLength,
    fullHeader,
    secretLength,
    secretHeader,
  };
  layouts.set(name, l);
  return l;
}

const CT_FIELDS = ciphertextHeaderFields("round's key parameters");
const PT_FIELDS = plaintextHeaderFields("round's key parameters");
const PRNG_FIELDS = sealHeaderFields(0, 'seed');
const polyName = (poly: number): string => `polynomial ${poly}`;

/** Exact serialized sizes of a public key for `preset`: seeded form and full form. */
export function publicKeyByteLengths(preset: PresetName): { seeded: number; full: number } {
  const l = keyLayouts(preset);
  return { seeded: l.seededLength, full: l.fullLength };
}

/** The 113-byte prefix of a full-form public key of `preset` (the collective key is written in this form). */
export function keyFullHeader(preset: PresetName): Uint8Array {
  return keyLayouts(preset).fullHeader.slice();
}

/** Validates a serialized public key (seeded or full form, compression none) for `preset`. Never throws. */
export function validatePublicKey(preset: PresetName, bytes: Uint8Array): Validation {
  if (!(bytes instanceof Uint8Array)) return invalid('public key is not a byte array');
  const l = keyLayouts(preset);
  const seeded = bytes.length === l.seededLength;
  if (!seeded && bytes.length !== l.fullLength) {
    return invalid(`public key length ${bytes.length} != ${l.seededLength} (seeded) or ${l.fullLength}`);
  }
  const header = seeded ? l.seededHeader : l.fullHeader;
  if (!prefixMatches(bytes, header)) return invalid(`public key ${diagnosePrefix(CT_FIELDS, bytes, header)}`);
  const bad = checkCoefficients(bytes, CIPHERTEXT_DATA_OFFSET, seeded ? 1 : 2, l.moduli, l.n, polyName);
  if (bad !== undefined) return invalid(`public key ${bad}`);
  if (seeded) {
    const at = CIPHERTEXT_DATA_OFFSET + l.moduli.length * l.n * 8;
    const info = bytes.subarray(at);
    if (!prefixMatches(info, l.prngHeader)) return invalid(`public key ${diagnosePrefix(PRNG_FIELDS, info, l.prngHeader)}`);
    if (!VALID_PRNG_TYPES.has(info[16]!)) return invalid(`public key seed: unknown PRNG type ${info[16]!}`);
  }
  return VALID;
}

/** Exact serialized size of a secret key for `preset`. */
export function secretKeyByteLength(preset: PresetName): number {
  return keyLayouts(preset).secretLength;
}

/** Validates a serialized secret key (compression none) for `preset`. Never throws. */
export function validateSecretKey(preset: PresetName, bytes: Uint8Array): Validation {
  if (!(bytes instanceof Uint8Array)) return invalid('secret key is not a byte array');
  const l = keyLayouts(preset);
  if (bytes.length !== l.secretLength) return invalid(`secret key length ${bytes.length} != ${l.secretLength}`);
  if (!prefixMatches(bytes, l.secretHeader)) return invalid(`secret key ${diagnosePrefix(PT_FIELDS, bytes, l.secretHeader)}`);
  const bad = checkCoefficients(bytes, PLAINTEXT_DATA_OFFSET, 1, l.moduli, l.n, () => 'the key');
  return bad === undefined ? VALID : invalid(`secret key ${bad}`);
}
