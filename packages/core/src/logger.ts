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

export function createLogger(service: string, level: string = process.env.SECAGG_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
