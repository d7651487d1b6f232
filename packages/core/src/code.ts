/** The gRPC status codes, the closed set every status this project sends comes from (as Connect-ES `Code`). */

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
