/**
 * One transport-neutral error type for the whole project. A service refuses a
 * call with `refuse(reason, message)`: the reason is one of the closed table
 * of reasons.ts, which decides the gRPC status. The `cause` is for logs only
 * and never goes on the wire.
 */
import { Code, codeName } from './code.js';
import { REASONS, type Reason } from './reasons.js';

export { Code, codeName } from './code.js';

export interface RefuseOptions {
  /** Underlying error, logged but never sent to a peer. */
  cause?: unknown;
  /** Milliseconds after which a retry may succeed (sent as `retry-after-ms` metadata). */
  retryAfterMs?: number;
}

/** The error every module throws for an expected failure, and every client receives for a failed call. */
export class SecaggError extends Error {
  readonly code: Code;
  /**
   * Stable machine-readable reason, for callers, logs and metrics: a {@link Reason}
   * for a refusal made here; for an error received from a peer, the peer's
   * `secagg-reason` (possibly one this version does not know), or `''` when the
   * peer sent none (a transport failure, a server that is not secagg's).
   */
  readonly reason: string;
  readonly retryAfterMs: number | undefined;

  /**
   * Use {@link refuse} to refuse a call; the constructor is for errors that
   * arrive from elsewhere (a peer's status), whose code is given, not chosen.
   */
  constructor(code: Code, message: string, options: RefuseOptions & { reason?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecaggError';
    this.code = code;
    this.reason = options.reason ?? '';
    this.retryAfterMs = options.retryAfterMs;
  }

  override toString(): string {
    return `${codeName(this.code)}: ${this.message}`;
  }
}

/**
 * The refusal of a call for `reason`: its status comes from the reason table,
 * `message` says what was wrong in words a caller can act on (keyholder
 * refusals after a decryption use fixed texts only: release-policy.ts).
 */
export function refuse(reason: Reason, message: string, options: RefuseOptions = {}): SecaggError {
  return new SecaggError(REASONS[reason].code, message, { ...options, reason });
}

/** True if `e` is a SecaggError with one of `codes` (any code when none given). */
export function isSecaggError(e: unknown, ...codes: Code[]): e is SecaggError {
  return e instanceof SecaggError && (codes.length === 0 || codes.includes(e.code));
}

/**
 * Whether a failed call may succeed when retried unchanged: by the reason's
 * table entry when the reason is known, else (a transport failure, a peer of
 * another version) by its status, as gRPC's retry guidance has it.
 */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof SecaggError)) return false;
  if (Object.hasOwn(REASONS, e.reason)) return REASONS[e.reason as Reason].retryable;
  return e.code === Code.Unavailable || e.code === Code.ResourceExhausted || e.code === Code.Aborted;
}
