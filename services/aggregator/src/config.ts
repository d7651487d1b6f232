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
  /**
   * Where update and checkpoint ciphertexts live, shared with the gateways: a
   * directory path (or file:///path) on a shared volume, or
   * s3://bucket/prefix?endpoint=…&region=… (docs/OPERATIONS.md "Ciphertext store").
   */
  ciphertextStore: z.string().min(1),
  /**
   * Ciphertexts per fold range (fixed per round by the first aggregator that
   * folds it, so all agree). A range's partial sum is this many ciphertexts in
   * memory (64 x 65,649 B = 4.2 MB on the default preset).
   */
  ciphertextsPerRange: int().default(64),
  /** Ranges this process holds (partial sums in memory) at once: its fold memory is this x (range bytes + 2 x readBlockBytes: the block being added and the next one being read). */
  maxRangesHeld: int().default(32),
  /** A range's lease (Redis clock): a dead aggregator's ranges are taken over this long after its last renewal, ms. */
  rangeLeaseMs: int().default(30_000),
  /** Checkpoint a range after this many updates folded into it... */
  checkpointEveryUpdates: int().default(32),
  /** ...or this long after its last checkpoint, whichever comes first, ms (a crash loses at most this much folding). */
  checkpointIntervalMs: int().default(5_000),
  /** How often the range worker looks for work when it found none, ms. */
  rangePollMs: int().default(200),
  /** Bytes of an update's range read at once (whole ciphertexts, at least one). */
  readBlockBytes: int().default(1024 * 1024),
  /**
   * Ranges of a round this process folds at once: 2 lets one range's reads and checkpoint writes overlap
   * another's additions; more takes ranges a second aggregator could have folded in parallel.
   */
  foldConcurrency: int().default(2),
  /** Close and finalize jobs this process runs at once. */
  lifecycleConcurrency: int().default(2),
  /** How often a finalize job re-checks that every range's checkpoint covers the commit log, ms. */
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
   * TEST / BENCHMARK ONLY: an artificial pause after every update folded into a
   * range, ms (0 = none). Slows the aggregator on purpose (overload harness) and
   * widens the crash window between checkpoints (chaos harness). Logged loudly.
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
