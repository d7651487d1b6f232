/** Gateway configuration: environment variables `GATEWAY_*`. */
import { z } from 'zod';
import { envBoolean, loadConfig } from '@secagg/core';

const int = () => z.coerce.number().int().positive();

export const gatewayConfigSchema = z.strictObject({
  /** host:port of the public gRPC listener (port 0 picks a free port). */
  listenAddress: z.string().default('0.0.0.0:7100'),
  /** Redis holding rounds, staged updates and queues. */
  redisUrl: z.string().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key this cluster uses (lets clusters and tests share a Redis). */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('secagg'),
  /** host:port of the keyholder. */
  keyholderAddress: z.string().min(1),
  /** PEM (SPKI) Ed25519 public key that verifies bearer tokens. One of tokenPublicKeyFile / tokenPublicKey is required. */
  tokenPublicKeyFile: z.string().optional(),
  tokenPublicKey: z.string().optional(),
  /** Clock skew tolerated on token expiry, seconds. */
  tokenClockToleranceSeconds: z.coerce.number().int().nonnegative().default(30),
  /** TLS certificate and key of the public listener; also this gateway's client identity towards the keyholder. */
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
  /** CA that signs the keyholder's certificate. */
  keyholderCaFile: z.string().optional(),
  /** host:port of the Prometheus /metrics listener; empty disables it. */
  metricsListenAddress: z.string().default('0.0.0.0:9100'),
  /** Newest rounds the round metrics scan at each scrape. */
  metricsRoundsScanned: int().max(10_000).default(1_000),
  /** How often readiness checks run (gRPC health: Redis and keyholder reachable), ms. */
  healthCheckIntervalMs: int().default(5_000),
  /** DEVELOPMENT ONLY: plaintext gRPC on the listener and towards the keyholder. Logged loudly. */
  allowInsecure: envBoolean().default(false),
  /** Largest gRPC message accepted, bytes (one ciphertext of the largest preset plus framing). */
  maxMessageBytes: int().default(8 * 1024 * 1024),
  /** A staged (unfinished) upload is deleted this long after its last chunk, ms. */
  stagedTtlMs: int().default(15 * 60_000),
  /** Keepalive: the gateway pings a connection idle for this long to detect dead peers, ms. */
  keepaliveTimeMs: int().default(60_000),
  /** Keepalive: a ping unanswered for this long closes the connection, ms. */
  keepaliveTimeoutMs: int().default(20_000),
  /** A connection with no call for this long is closed (the client reconnects when it needs to), ms. */
  maxConnectionIdleMs: int().default(300_000),
  /** A stream that sends nothing for this long is cancelled, ms. */
  streamIdleTimeoutMs: int().default(60_000),
  /** Redis writes of one stream in flight at once (pipelining depth). */
  maxInflightChunksPerStream: int().default(8),
  // Upload limits (docs/RELIABILITY.md "Bounded memory"). An upload that meets a
  // full limit waits unread (HTTP/2 flow control holds the client) for up to
  // admissionWaitMs, then is answered RESOURCE_EXHAUSTED with a retry hint.
  /**
   * Bytes of unfinished uploads staged in Redis, across every stream of every
   * gateway sharing the Redis. Each upload reserves its full size (ciphertext
   * count x ciphertext bytes) from its header, before any chunk is read.
   */
  maxStagedBytes: int().default(1024 * 1024 * 1024),
  /** Upload streams this gateway reads at once. */
  maxConcurrentStreams: int().default(64),
  /** Upload streams waiting for a slot on this gateway; past this, RESOURCE_EXHAUSTED at once. */
  maxWaitingStreams: int().default(128),
  /** Upload streams one client (token subject) may have open or waiting on this gateway at once. */
  maxStreamsPerClient: int().default(2),
  /** Fold jobs waiting, delayed or running (all rounds) at which new uploads stop being admitted. */
  maxFoldBacklog: int().default(256),
  /** Longest wait of an upload for a stream slot, staging budget or fold-backlog room, ms. */
  admissionWaitMs: z.coerce.number().int().nonnegative().default(2_000),
  /** Retry hint (`retry-after-ms` trailer) sent with RESOURCE_EXHAUSTED, and with UNAVAILABLE while draining, ms. */
  overloadRetryAfterMs: int().default(1_000),
  /** Retry hint sent when Redis refuses a write (full, no replicas, read-only, not persisting, resharding) or is unreachable, ms. */
  storageRetryAfterMs: int().default(1_000),
  /**
   * Redis restarts (a changed run id) within `redisRestartWindowMs` at which
   * readiness fails with "Redis is crash-looping" (e.g. an AOF write that
   * fails for a full disk makes Redis exit with appendfsync always).
   */
  redisRestartsToFail: int().default(3),
  /**
   * Window over which Redis restarts are counted, ms. Short, because readiness
   * stays failed for up to this long after the last restart.
   */
  redisRestartWindowMs: int().default(120_000),
  /** A measured fold backlog is reused this long before Redis is asked again, ms. */
  foldBacklogCacheMs: z.coerce.number().int().nonnegative().default(200),
  /** Deadline of calls to the keyholder, ms. */
  keyholderDeadlineMs: int().default(30_000),
  /** Largest vector_length a round may have. */
  maxVectorLength: int().default(100_000_000),
  /** Largest max_clients a round may have. */
  maxClientsPerRound: int().default(100_000),
  /** Longest round, ms from creation to deadline. */
  maxRoundDurationMs: int().default(7 * 24 * 3_600_000),
  /** Values per result message when the client does not ask. */
  resultValuesPerMessage: int().max(262_144).default(65_536),
  /**
   * On SIGTERM the gateway first reports NOT_SERVING for this long while still
   * accepting calls, so load balancers and probes see it draining before the
   * listener closes, ms.
   */
  shutdownAnnounceMs: z.coerce.number().int().nonnegative().default(1_000),
  /** Grace period for in-flight calls on shutdown, ms. */
  shutdownGraceMs: z.coerce.number().int().nonnegative().default(10_000),
  /**
   * TEST ONLY: this process's clock runs this far ahead (negative: behind) of the
   * real time, ms (0 = none). Exercises clock skew against Redis (chaos, tests). Logged loudly.
   */
  testClockOffsetMs: z.coerce.number().int().default(0),
  /**
   * TEST ONLY: SIGKILL this gateway right after a commit that closed its round
   * (max clients reached), before queueing the fold and the finalize. Logged loudly.
   */
  testKillAfterClosingCommit: envBoolean().default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const config = loadConfig('GATEWAY', gatewayConfigSchema, env);
  if (!config.tokenPublicKeyFile && !config.tokenPublicKey) {
    throw new Error('invalid configuration: GATEWAY_TOKEN_PUBLIC_KEY_FILE or GATEWAY_TOKEN_PUBLIC_KEY is required');
  }
  return config;
}
