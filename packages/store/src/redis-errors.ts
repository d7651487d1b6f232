/**
 * Redis refusals as precise, retryable errors: the one table from what Redis
 * (or ioredis) answered to the gRPC status a caller sees (issue 12 item 6).
 *
 * A Redis that refuses a write is a transient condition of the storage, never
 * the caller's fault and never an internal bug: a full Redis (maxmemory with
 * noeviction) is backpressure, RESOURCE_EXHAUSTED; every other refusal
 * (no replicas, read-only replica, persistence failing, loading, busy script,
 * cluster resharding or failing over) and a lost connection is UNAVAILABLE.
 * Both carry a retry hint; the SDK retries both with the same update id.
 *
 * The message on the wire is fixed per reason. The `cause` kept for logs is
 * a sanitized copy: ioredis attaches the failed command with its arguments to
 * a reply error, and the arguments of a staging write are a whole ciphertext
 * chunk (hundreds of KB) that must never reach a log line.
 */
import { refuse, SecaggError, type Reason } from '@secagg/core';

/** A refusal of the storage: its reason (the status is the reason table's, @secagg/core) and its fixed text. */
export interface StorageRefusal {
  reason: Extract<Reason, `storage_${string}`>;
  /** Fixed text sent to the caller. */
  message: string;
}

const UNREACHABLE: StorageRefusal = { reason: 'storage_unreachable', message: 'storage temporarily unreachable; retry' };
const CLUSTER_UNSTABLE: StorageRefusal = { reason: 'storage_cluster_unstable', message: 'storage cluster is resharding or failing over; retry' };

/** Redis error prefixes (the first word of an error reply) and what each means for a caller. */
const REFUSALS: Record<string, StorageRefusal> = {
  OOM: { reason: 'storage_full', message: 'storage is full; retry later' },
  NOREPLICAS: { reason: 'storage_no_replicas', message: 'storage has too few replicas to accept writes; retry' },
  READONLY: { reason: 'storage_read_only', message: 'storage is read-only (failover in progress?); retry' },
  MISCONF: { reason: 'storage_cannot_persist', message: 'storage cannot persist writes (disk?); retry' },
  LOADING: { reason: 'storage_loading', message: 'storage is loading its data; retry' },
  BUSY: { reason: 'storage_busy', message: 'storage is busy; retry' },
  MASTERDOWN: { reason: 'storage_primary_down', message: 'storage primary is down; retry' },
  CLUSTERDOWN: CLUSTER_UNSTABLE,
  TRYAGAIN: CLUSTER_UNSTABLE,
  MOVED: CLUSTER_UNSTABLE,
  ASK: CLUSTER_UNSTABLE,
};

/** ioredis' own errors for a connection that is gone (or never came back in time). */
const CONNECTION_ERROR_NAMES = new Set(['MaxRetriesPerRequestError', 'AbortError', 'ClusterAllFailedError']);
const CONNECTION_MESSAGE =
  /Connection is closed|Command aborted|Stream isn't writeable|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTCONN|Failed to refresh slots cache/;
/** ioredis gives up following MOVED/ASK after maxRedirections: a slot map that keeps changing. */
const REDIRECTION_STORM = /Too many Cluster redirections/;

/**
 * What a Redis or ioredis error means for a caller, or undefined when it is
 * not a refusal of the storage (a bug: a wrong type, a script error).
 */
export function classifyRedisError(error: unknown): StorageRefusal | undefined {
  if (!(error instanceof Error)) return undefined;
  const message = error.message ?? '';
  // A transaction discarded because a queued command was refused: the first refusal says why.
  if (/^EXECABORT\b/.test(message)) {
    const previous = (error as { previousErrors?: unknown[] }).previousErrors ?? [];
    for (const inner of previous) {
      const refusal = classifyRedisError(inner);
      if (refusal) return refusal;
    }
    return { reason: 'storage_refused', message: 'storage refused the transaction; retry' };
  }
  // An error reply raised inside a Lua script keeps its prefix after the script's own ("ERR ... script: ..."
  // on older Redis): look at the first word, then at a refusal word anywhere in the first line.
  const firstLine = message.split('\n', 1)[0]!;
  const word = /^([A-Z]+)\b/.exec(firstLine)?.[1];
  if (word && REFUSALS[word]) return REFUSALS[word];
  const inner = /\b(OOM|NOREPLICAS|READONLY|MISCONF|LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN) [a-zA-Z]/.exec(firstLine)?.[1];
  if (inner) return REFUSALS[inner];
  if (REDIRECTION_STORM.test(message)) return CLUSTER_UNSTABLE;
  if (CONNECTION_ERROR_NAMES.has(error.name) || CONNECTION_MESSAGE.test(message)) return UNREACHABLE;
  return undefined;
}

/**
 * `error` as the SecaggError a caller should get when it is a refusal of the
 * storage (with `retryAfterMs` as its hint), else `error` unchanged. A
 * SecaggError passes through.
 */
export function toStorageError(error: unknown, retryAfterMs: number): unknown {
  if (error instanceof SecaggError) return error;
  const refusal = classifyRedisError(error);
  if (!refusal) return error;
  return refuse(refusal.reason, refusal.message, { retryAfterMs, cause: sanitizedRedisError(error) });
}

/** True for a refusal of the storage: worth retrying later. */
export function isStorageRefusal(error: unknown): boolean {
  return classifyRedisError(error) !== undefined;
}

/**
 * A log-safe copy of a Redis error: its name, the first line of its message
 * (bounded) and the command's name — never the command's arguments.
 */
export function sanitizedRedisError(error: unknown): Error {
  const e = error as Error & { command?: { name?: string }; previousErrors?: unknown[] };
  const copy = new Error(String(e?.message ?? e).split('\n', 1)[0]!.slice(0, 300));
  copy.name = e?.name ?? 'Error';
  if (e?.command?.name) Object.assign(copy, { command: e.command.name });
  if (Array.isArray(e?.previousErrors) && e.previousErrors.length > 0) {
    Object.assign(copy, { previousErrors: e.previousErrors.slice(0, 3).map((p) => String((p as Error)?.message ?? p).slice(0, 300)) });
  }
  return copy;
}
