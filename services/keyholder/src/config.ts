/** Keyholder configuration: environment variables `KEYHOLDER_*`. */
import { z } from 'zod';
import { envBoolean, loadConfig } from '@secagg/core';

export const keyholderConfigSchema = z.strictObject({
  /** host:port of the gRPC listener (port 0 picks a free port). */
  listenAddress: z.string().default('0.0.0.0:7300'),
  /** Directory of the keyholder's own durable store (sealed keys, releases, privacy ledger). */
  dataDir: z.string().min(1),
  /** File holding the 32-byte key-encryption key, base64. One of kekFile / kek is required. */
  kekFile: z.string().optional(),
  /** The key-encryption key itself, base64 (prefer kekFile). */
  kek: z.string().optional(),
  /** TLS certificate (PEM) of the listener. */
  tlsCertFile: z.string().optional(),
  /** TLS private key (PEM) of the listener. */
  tlsKeyFile: z.string().optional(),
  /** CA (PEM) that signs the gateway's and aggregators' client certificates (mutual TLS). */
  tlsCaFile: z.string().optional(),
  /** Certificate common name of the gateway: the only peer that may create round keys. */
  gatewayIdentity: z.string().min(1).default('client-gateway'),
  /** Certificate common name of the aggregators: the only peers that may release a round. */
  aggregatorIdentity: z.string().min(1).default('aggregator'),
  /** DEVELOPMENT ONLY: serve plaintext gRPC. Logged loudly. */
  allowInsecure: envBoolean().default(false),
  /** TEST ONLY: honour rounds that ask for a noise-free release. Never in production. */
  allowUnsafeNoiseFreeRelease: envBoolean().default(false),
  /** delta at which the epsilon of each release is stated and charged. */
  delta: z.coerce.number().gt(0).lt(1).default(1e-5),
  /** Largest vector length a round may have. */
  maxVectorLength: z.coerce.number().int().positive().default(100_000_000),
  /** Largest max_clients a round may have. */
  maxClientsPerRound: z.coerce.number().int().positive().default(100_000),
  /** Longest round, ms from creation to deadline. */
  maxRoundDurationMs: z.coerce.number().int().positive().default(7 * 24 * 3_600_000),
  /** Values per released result message. */
  resultValuesPerMessage: z.coerce.number().int().positive().max(262_144).default(65_536),
  /** Grace period for in-flight calls on shutdown, ms. */
  shutdownGraceMs: z.coerce.number().int().nonnegative().default(10_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type KeyholderConfig = z.infer<typeof keyholderConfigSchema>;

export function loadKeyholderConfig(env: Record<string, string | undefined> = process.env): KeyholderConfig {
  const config = loadConfig('KEYHOLDER', keyholderConfigSchema, env);
  if (!config.kekFile && !config.kek) throw new Error('invalid configuration: KEYHOLDER_KEK_FILE or KEYHOLDER_KEK is required');
  return config;
}
