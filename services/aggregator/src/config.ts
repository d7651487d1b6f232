/** Aggregator configuration: environment variables `AGGREGATOR_*`. */
import { z } from 'zod';
import { disableableAddress, envBoolean, loadConfig } from '@secagg/core';
import { keyholderTopology } from '@secagg/protocol';

const int = () => z.coerce.number().int().positive();

export const aggregatorConfigSchema = z.strictObject({
  /** Redis holding rounds, committed updates, partial sums and queues. */
  redisUrl: z.string().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key; must equal the gateway's. */
  keyPrefix: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('secagg'),
  /** host:port of the keyholder. Exactly one of keyholderAddress / keyholderCommitteeAddresses. */
  keyholderAddress: z.string().min(1).optional(),
  /**
   * Threshold keyholders (issue 16): comma-separated host:port of keyholder
   * 1, 2, … n, in committee order, as the gateway's. The release job then
   * gathers every keyholder's decryption shares and combines them
   * (protocol's KeyholderCommittee).
   */
  keyholderCommitteeAddresses: z.string().min(1).optional(),
  /** Keyholders a release needs (t, 2..n); default n. With t < n the keyholders deal Shamir shares of their key shares. */
  keyholderCommitteeThreshold: z.coerce.number().int().min(2).optional(),
  /** This aggregator's client certificate and key (mutual TLS towards the keyholder). */
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
  /** CA that signs the keyholder's certificate. */
  keyholderCaFile: z.string().optional(),
  /** host:port of the gRPC health listener (grpc.health.v1 only; the aggregator serves nothing else). */
  healthListenAddress: z.string().default('0.0.0.0:7200'),
  /** host:port of the Prometheus /metrics listener; empty disables it. */
  metricsListenAddress: disableableAddress('0.0.0.0:9200'),
  /** How often readiness checks run (Redis and keyholder reachable, workers running), ms. */
  healthCheckIntervalMs: int().default(5_000),
  /** DEVELOPMENT ONLY: plaintext gRPC towards the keyholder. Logged loudly. */
  allowInsecure: envBoolean().default(false),
  /** Partial sums per round a fold may add into; more means fewer compare-and-set conflicts between aggregators. */
  foldShards: int().max(64).default(4),
  /**
   * Ciphertext bytes this process may hold for running jobs: a fold needs 2x
   * one update's bytes, a finalize 2.5x; jobs wait for their share (one larger
   * than the budget runs alone). Bounds memory for very long vectors.
   */
  jobMemoryBudgetBytes: int().default(256 * 1024 * 1024),
  /** Fold jobs this process runs at once. */
  foldConcurrency: int().default(2),
  /** Compare-and-set attempts of one fold before the job is retried later. */
  foldMaxConflicts: int().default(20),
  /** Close and finalize jobs this process runs at once. */
  lifecycleConcurrency: int().default(2),
  /** How often a finalize job re-checks that every committed update is folded, ms. */
  finalizePollMs: int().default(250),
  /**
   * A failed job (transient cause: Redis or the keyholder unavailable, a lost
   * connection) is retried for ever; the delay starts here and doubles, ms.
   */
  jobRetryInitialDelayMs: int().default(500),
  /** Cap of the retry delay of a failed job, ms: once the cause is gone, work resumes within about this long. */
  jobRetryMaxDelayMs: int().default(30_000),
  /**
   * How often this aggregator sweeps the live rounds, ms: a CLOSED round without
   * a live finalize job gets one, an OPEN round past its deadline (Redis's
   * clock) is closed. Bounds how long a round can sit unattended after a crash.
   */
  sweepIntervalMs: int().default(10_000),
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
  /** Deadline of the release call to the keyholder, ms. */
  keyholderDeadlineMs: int().default(120_000),
  /** BullMQ job lock; a job whose worker stops renewing it is handed to another worker, ms. */
  lockDurationMs: int().default(30_000),
  /** How often a worker looks for jobs whose worker died (lock expired) to hand them to another, ms. */
  stalledCheckIntervalMs: int().default(30_000),
  /**
   * TEST / BENCHMARK ONLY: an artificial pause inside every fold, between adding
   * the update into a partial sum and committing it, ms (0 = none). Slows the
   * aggregator on purpose (overload harness) and widens the crash window the
   * fold's compare-and-set must survive (chaos harness). Logged loudly.
   */
  testFoldDelayMs: z.coerce.number().int().nonnegative().default(0),
  /**
   * TEST ONLY: this process's clock runs this far ahead (negative: behind) of the
   * real time, ms (0 = none). Exercises clock skew against Redis. Logged loudly.
   */
  testClockOffsetMs: z.coerce.number().int().default(0),
  /** Grace period for running jobs on shutdown, ms. */
  shutdownGraceMs: z.coerce.number().int().nonnegative().default(30_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export type AggregatorConfig = z.infer<typeof aggregatorConfigSchema>;

export function loadAggregatorConfig(env: Record<string, string | undefined> = process.env): AggregatorConfig {
  const config = loadConfig('AGGREGATOR', aggregatorConfigSchema, env);
  keyholderTopology(config); // exactly one of a keyholder and a committee, a committee of a valid size
  return config;
}
