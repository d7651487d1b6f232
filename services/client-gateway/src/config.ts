/** Gateway configuration: environment variables `GATEWAY_*`. */
import { z } from 'zod';
import { disableableAddress, envBoolean, loadConfig, MAX_HTTP2_WINDOW_BYTES, MIN_HTTP2_WINDOW_BYTES } from '@secagg/core';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, DEFAULT_TOKEN_CLOCK_TOLERANCE_SECONDS } from '@secagg/auth';
import {
  DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES,
  keyholderTopology,
  MAX_RESULT_VALUES_PER_MESSAGE,
  maxUploadFrameBytes,
  STOCK_RECEIVE_LIMIT_BYTES,
} from '@secagg/protocol';

const int = () => z.coerce.number().int().positive();

export const gatewayConfigSchema = z.strictObject({
  /** host:port of the public gRPC listener (port 0 picks a free port). */
  listenAddress: z.string().default('0.0.0.0:7100'),
  /** Redis holding rounds, staged updates and queues. */
  redisUrl: z.string().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key this cluster uses (lets clusters and tests share a Redis). */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('secagg'),
  /** host:port of the keyholder. Exactly one of keyholderAddress / keyholderCommitteeAddresses. */
  keyholderAddress: z.string().min(1).optional(),
  /**
   * Threshold keyholders (issue 16): comma-separated host:port of keyholder
   * 1, 2, … n of the committee, in committee order (each keyholder's
   * KEYHOLDER_COMMITTEE_INDEX). Every round is then keyed by the committee.
   */
  keyholderCommitteeAddresses: z.string().min(1).optional(),
  /** Keyholders a release needs (t, 2..n); default n. With t < n the keyholders deal Shamir shares of their key shares. */
  keyholderCommitteeThreshold: z.coerce.number().int().min(2).optional(),
  /** PEM (SPKI) Ed25519 public key that verifies bearer tokens. One of tokenPublicKeyFile / tokenPublicKey is required. */
  tokenPublicKeyFile: z.string().optional(),
  tokenPublicKey: z.string().optional(),
  /** Clock skew tolerated between token minter and gateway, seconds: on exp, and how far nbf and iat may lie in the future. */
  tokenClockToleranceSeconds: z.coerce.number().int().nonnegative().default(DEFAULT_TOKEN_CLOCK_TOLERANCE_SECONDS),
  /**
   * Longest token lifetime accepted, seconds: exp − iat (exp − now for a token
   * without iat). Longer-lived tokens are UNAUTHENTICATED; there is no
   * revocation, so this is how long a stolen token is worth.
   */
  tokenMaxLifetimeSeconds: int().default(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
  /** TLS certificate and key of the public listener; also this gateway's client identity towards the keyholder. */
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
  /** CA that signs the keyholder's certificate. */
  keyholderCaFile: z.string().optional(),
  /** host:port of the Prometheus /metrics listener; empty disables it. */
  metricsListenAddress: disableableAddress('0.0.0.0:9100'),
  /** Newest rounds the round metrics scan at each scrape. */
  metricsRoundsScanned: int().max(10_000).default(1_000),
  /** How often readiness checks run (gRPC health: Redis and keyholder reachable), ms. */
  healthCheckIntervalMs: int().default(5_000),
  /** DEVELOPMENT ONLY: plaintext gRPC on the listener and towards the keyholder. Logged loudly. */
  allowInsecure: envBoolean().default(false),
  // Transport limits (docs/SECURITY.md "Limits"): what a caller can make the
  // gateway hold before and while its calls are handled.
  /**
   * Largest gRPC message received, bytes; also the most one compressed message may
   * decompress to. Default: one upload frame carrying a ciphertext of the largest
   * preset (domain/message-limits.ts). grpc-js has no per-method limit: this is every
   * method's, and the call guard keeps the small methods cheap.
   */
  maxReceiveMessageBytes: int().default(maxUploadFrameBytes()),
  /**
   * HTTP/2 receive window of every stream and of every connection, bytes
   * (SETTINGS_INITIAL_WINDOW_SIZE and the connection's WINDOW_UPDATE; grpc-js
   * announces 65,535 and has no option for it: core's raiseReceiveWindow).
   * Default 1 MiB, twice the largest upload frame and more, so no upload frame
   * waits for a window update (protocol's DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES).
   * It is also what one stream may hold unread — a call awaiting its token
   * check, an upload awaiting a slot — so the memory bound of docs/SECURITY.md
   * "Limits" grows with it. 65535 restores grpc-js's default.
   */
  http2ReceiveWindowBytes: int().min(MIN_HTTP2_WINDOW_BYTES).max(MAX_HTTP2_WINDOW_BYTES).default(DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES),
  /** Largest gRPC message sent, bytes (a GetRound with the largest public key; result messages are far below it). */
  maxSendMessageBytes: int().default(STOCK_RECEIVE_LIMIT_BYTES),
  /**
   * Memory one HTTP/2 connection may use (Node's maxSessionMemory: header tables,
   * queued outbound data, pending pings and settings), MiB; past it new calls on
   * that connection are refused until it drains.
   */
  maxSessionMemoryMib: int().default(16),
  /**
   * A call must deliver its request (unary, server-streaming) or an upload its first
   * frame within this long of being read, ms; else DEADLINE_EXCEEDED.
   */
  requestReceiveTimeoutMs: int().default(10_000),
  /**
   * Calls other than uploads (which have their own slots below) in flight on this
   * gateway at once — health and reflection calls, which need no token, only until
   * their request is in; past it RESOURCE_EXHAUSTED before any message is read.
   */
  maxConcurrentCalls: int().default(256),
  /** A staged (unfinished) upload is deleted this long after its last chunk, ms. */
  stagedTtlMs: int().default(15 * 60_000),
  /** Keepalive: the gateway pings a connection idle for this long to detect dead peers, ms. */
  keepaliveTimeMs: int().default(60_000),
  /** Keepalive: a ping unanswered for this long closes the connection, ms. */
  keepaliveTimeoutMs: int().default(20_000),
  /** A connection with no call for this long is closed (the client reconnects when it needs to), ms. */
  maxConnectionIdleMs: int().default(300_000),
  /**
   * Client connections open at once; more are dropped at accept (the client's channel retries with
   * backoff). Each costs TLS and HTTP/2 state and unread stream windows before any call is admitted.
   */
  maxConnections: int().default(512),
  /**
   * Concurrent calls on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); more wait in the
   * client without sending, which bounds what one connection can make the gateway buffer.
   */
  maxStreamsPerConnection: int().default(32),
  /** A stream that sends nothing for this long is cancelled, ms. */
  streamIdleTimeoutMs: int().default(60_000),
  /**
   * Where update ciphertexts are staged and committed, shared with the
   * aggregators: a directory path (or file:///path) on a shared volume, or
   * s3://bucket/prefix?endpoint=…&region=… (docs/OPERATIONS.md "Ciphertext store").
   */
  ciphertextStore: z.string().min(1),
  // Upload limits (docs/RELIABILITY.md "Bounded memory"). An upload that meets a
  // full limit waits unread (HTTP/2 flow control holds the client) for up to
  // admissionWaitMs, then is answered RESOURCE_EXHAUSTED with a retry hint.
  /**
   * Bytes of unfinished uploads staged in the ciphertext store, across every
   * stream of every gateway sharing the Redis (which keeps the books). An
   * upload reserves its whole size at its header, before any chunk is read,
   * so an admitted upload always finishes; an update larger than this (or
   * than maxStagedBytesPerClient) is refused (`update_too_large`).
   */
  maxStagedBytes: int().default(1024 * 1024 * 1024),
  /** Of maxStagedBytes, the most one client (token subject) may hold reserved at once, bytes. */
  maxStagedBytesPerClient: int().default(512 * 1024 * 1024),
  /**
   * Slowest upload kept, bytes per second: an upload must finish within
   * uploadGraceMs + its size / this rate of its header, else it is cancelled
   * (DEADLINE_EXCEEDED) and its reservation released.
   */
  minUploadBytesPerSecond: int().default(64 * 1024),
  /** Time an upload gets on top of its size-scaled deadline (connection set-up, admission, commit), ms. */
  uploadGraceMs: int().default(60_000),
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
  /** Values per result message when the client does not ask (at most 131,072: a message fits a stock 4 MiB limit). */
  resultValuesPerMessage: int().max(MAX_RESULT_VALUES_PER_MESSAGE).default(65_536),
  /** GetResult streams open on this gateway at once; past it RESOURCE_EXHAUSTED with a retry hint. */
  maxResultStreams: int().default(32),
  /** GetResult streams one client (token subject) may have open on this gateway at once. */
  maxResultStreamsPerClient: int().default(2),
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
  keyholderTopology(config); // exactly one of a keyholder and a committee, a committee of a valid size
  return config;
}
