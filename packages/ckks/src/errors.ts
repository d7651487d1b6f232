import { wasm } from './wasm-api.js';

/**
 * The one error type this package throws. SEAL (node-seal 7) throws
 * `WebAssembly.Exception`, which is not an `Error` and whose `message` is a
 * `[type, what]` pair (DESIGN.md §6); {@link sealCall} converts it here, at the
 * only boundary where SEAL is called.
 */

/**
 * Stable machine-readable reasons, for logs, metrics and the callers' mapping to
 * gRPC status codes:
 * - `invalid_params`: bad {@link CkksParams} or function arguments (INVALID_ARGUMENT).
 * - `invalid_ciphertext`: bytes that fail {@link validateCiphertext} (INVALID_ARGUMENT).
 * - `invalid_key`: key bytes that fail validation (INVALID_ARGUMENT / FAILED_PRECONDITION).
 * - `out_of_range`: a value too large to encode without wrapping (OUT_OF_RANGE).
 * - `no_safe_scale`: no encoding scale is both overflow-safe and precise enough (OUT_OF_RANGE).
 * - `disposed`: use of an engine, encryptor or decryptor after `dispose()` (FAILED_PRECONDITION).
 * - `seal_error`: SEAL itself threw; validation should make this unreachable from client input (INTERNAL).
 * - `seal_mismatch`: the loaded SEAL computed parameters other than this package's constants (INTERNAL).
 */
export type CkksErrorCode =
  | 'invalid_params'
  | 'invalid_ciphertext'
  | 'invalid_key'
  | 'out_of_range'
  | 'no_safe_scale'
  | 'disposed'
  | 'seal_error'
  | 'seal_mismatch';

/** Error thrown by every function of `@secagg/ckks`. */
export class CkksError extends Error {
  /** Stable reason, one of {@link CkksErrorCode}. */
  readonly code: CkksErrorCode;

  constructor(code: CkksErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CkksError';
    this.code = code;
  }
}

/** Readable text of a SEAL `WebAssembly.Exception` (`message` is `[type, what]`), or of anything else thrown. */
export function describeThrown(e: unknown): string {
  if (e instanceof wasm.Exception) {
    const m = e.message;
    if (Array.isArray(m)) return m.map(String).join(': ');
    if (typeof m === 'string') return m;
    return 'unknown SEAL exception';
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Runs `fn` (which calls into SEAL) and rethrows anything it throws as a
 * {@link CkksError} with code `seal_error` and the SEAL message, keeping the
 * original as `cause`. A `CkksError` thrown inside passes through unchanged.
 */
export function sealCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CkksError) throw e;
    throw new CkksError('seal_error', `SEAL failed to ${what}: ${describeThrown(e)}`, { cause: e });
  }
}
