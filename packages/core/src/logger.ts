/**
 * Structured JSON logs (pino). Every service logs through one of these, with
 * `service` bound, so that lines from the cluster can be merged and followed by
 * round id, update id and request id.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino removes from every log line, wherever they appear. */
export const REDACT_PATHS = [
  '*.secretKey',
  '*.publicKey',
  '*.ciphertext',
  '*.token',
  '*.authorization',
  'secretKey',
  'token',
  'authorization',
  'kek',
];

/** Longest string, and most array items, an error keeps in a log line. */
const MAX_LOGGED_CHARS = 2_048;
const MAX_LOGGED_ITEMS = 16;

/**
 * Payload bytes never reach a log line, whatever an error carries: ioredis
 * attaches the failed command with its arguments to a reply error (a staging
 * write's argument is a whole ciphertext chunk, ~225 KB as JSON), so binary
 * values become their length, long strings and arrays are cut, depth is bounded.
 */
export function scrubLogged(value: unknown, depth = 0): unknown {
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (typeof value === 'string') return value.length > MAX_LOGGED_CHARS ? `${value.slice(0, MAX_LOGGED_CHARS)}…[${value.length} chars]` : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= 5) return '[…]';
  const record = value as { type?: unknown; data?: unknown };
  if (record.type === 'Buffer' && Array.isArray(record.data)) return `[${record.data.length} bytes]`;
  if (Array.isArray(value)) {
    const kept = value.slice(0, MAX_LOGGED_ITEMS).map((item) => scrubLogged(item, depth + 1));
    if (value.length > MAX_LOGGED_ITEMS) kept.push(`…[${value.length} items]`);
    return kept;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = scrubLogged(item, depth + 1);
  return out;
}

/** pino's error serializer, then {@link scrubLogged}: what every logger writes for `err`. */
export const serializeError = (error: unknown): unknown => scrubLogged(pino.stdSerializers.err(error as Error));

export function createLogger(service: string, level: string = process.env.SECAGG_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
