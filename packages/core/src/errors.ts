/**
 * One transport-neutral error type for the whole project, with a closed set of
 * codes that are exactly the gRPC status codes (as Connect-ES `Code` does).
 * The `cause` is for logs only and never goes on the wire.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export enum Code {
  Ok = 0,
  Cancelled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** Human name of a code, e.g. `INVALID_ARGUMENT`. */
export function codeName(code: Code): string {
  return Code[code]!.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

export interface SecaggErrorOptions {
  /** Stable machine-readable reason for logs and metrics, e.g. `digest_mismatch`. */
  errorCode?: string;
  /** Underlying error, logged but never sent to a peer. */
  cause?: unknown;
  /** Milliseconds after which a retry may succeed (sent as `retry-after-ms` metadata). */
  retryAfterMs?: number;
}

/** The error every module throws for an expected failure. */
export class SecaggError extends Error {
  readonly code: Code;
  readonly errorCode: string;
  readonly retryAfterMs: number | undefined;

  constructor(code: Code, message: string, options: SecaggErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SecaggError';
    this.code = code;
    this.errorCode = options.errorCode ?? codeName(code).toLowerCase();
    this.retryAfterMs = options.retryAfterMs;
  }

  override toString(): string {
    return `${codeName(this.code)}: ${this.message}`;
  }
}

/** Shorthands for the common cases, so call sites read as sentences. */
export const fail = {
  invalid: (message: string, errorCode?: string) => new SecaggError(Code.InvalidArgument, message, { errorCode }),
  notFound: (message: string, errorCode?: string) => new SecaggError(Code.NotFound, message, { errorCode }),
  exists: (message: string, errorCode?: string) => new SecaggError(Code.AlreadyExists, message, { errorCode }),
  precondition: (message: string, errorCode?: string) =>
    new SecaggError(Code.FailedPrecondition, message, { errorCode }),
  exhausted: (message: string, retryAfterMs: number, errorCode?: string) =>
    new SecaggError(Code.ResourceExhausted, message, { errorCode, retryAfterMs }),
  unauthenticated: (message: string) => new SecaggError(Code.Unauthenticated, message),
  denied: (message: string) => new SecaggError(Code.PermissionDenied, message),
  unavailable: (message: string, cause?: unknown) => new SecaggError(Code.Unavailable, message, { cause }),
  internal: (message: string, cause?: unknown) => new SecaggError(Code.Internal, message, { cause }),
};

/** True if `e` is a SecaggError with one of `codes` (any code when none given). */
export function isSecaggError(e: unknown, ...codes: Code[]): e is SecaggError {
  return e instanceof SecaggError && (codes.length === 0 || codes.includes(e.code));
}
