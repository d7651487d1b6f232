/**
 * @secagg/ckks — CKKS encryption for secure aggregation (node-seal 7 = SEAL 4.1).
 *
 * The only package that imports node-seal, and only from `CkksEngine` (loaded
 * lazily): formats, validation, addition and scale selection are pure
 * TypeScript, so gateways and aggregators use them without any WASM.
 */
export { addCiphertextInto } from './add.js';
export { CkksEngine } from './engine.js';
export type { CkksDecryptor, CkksEncryptor, CkksShareDecryptor } from './engine.js';
export { CkksError } from './errors.js';
export type { CkksErrorCode } from './errors.js';
export { ciphertextFormat } from './format.js';
export type { CiphertextFormat, ModulusWords } from './format.js';
export {
  addSecretKeys,
  aggregatePublicKey,
  collectiveKeySeed,
  combineDecryptionShares,
  commonRandomPolynomial,
  decryptionShareByteLength,
  lagrangeCoefficient,
  lagrangeScaleSecretKey,
  publicKeyShareByteLength,
  shamirSplitSecretKey,
  validateDecryptionShare,
  validatePublicKeyShare,
} from './multiparty.js';
export { publicKeyByteLengths, secretKeyByteLength, validatePublicKey, validateSecretKey } from './key-format.js';
export {
  assertCkksParams,
  ciphertextByteLength,
  ciphertextCount,
  DEFAULT_PRESET,
  isPresetName,
  PRESETS,
  valuesPerCiphertext,
} from './presets.js';
export type { CkksParams, Encoding, Preset, PresetName } from './presets.js';
export { chooseScaleBits, estimateMaxError, maxRepresentable } from './scale.js';
export { sealHeapBytes } from './seal-runtime.js';
export { validateCiphertext } from './validate.js';
export type { Validation } from './validate.js';
export { decryptVector, encryptVector } from './vector.js';
export { CiphertextAccumulator } from './simd-sum.js';
