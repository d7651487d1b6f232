/** Keyholder configuration: environment variables `KEYHOLDER_*`. */
import { z } from 'zod';
import { disableableAddress, envBoolean, loadConfig } from '@secagg/core';
import { MAX_KEYHOLDERS } from '@secagg/protocol';

export const keyholderConfigSchema = z.strictObject({
  /** host:port of the gRPC listener (port 0 picks a free port). */
  listenAddress: z.string().default('0.0.0.0:7300'),
  /** Directory of the keyholder's own durable store (sealed keys, releases, privacy ledger). */
  dataDir: z.string().min(1),
  /**
   * Directory where a release spools the ciphertexts of the encrypted sum
   * while it receives them (one file per release attempt, deleted when the
   * release ends; leftovers of a crash are deleted at start). Needs free
   * space for one encrypted sum (e.g. 160 MB for 10M values on the default
   * preset) per concurrent release. Default: `<dataDir>/spool`.
   */
  spoolDir: z.string().min(1).optional(),
  /** File holding the 32-byte key-encryption key, base64. One of kekFile / kek is required. */
  kekFile: z.string().optional(),
  /** The key-encryption key itself, base64 (prefer kekFile). */
  kek: z.string().optional(),
  /**
   * KEK rotation: comma-separated files holding previous KEKs (base64). Keys
   * sealed under them are re-sealed under the current KEK at start; after one
   * start with both, the previous files can be removed.
   */
  previousKekFiles: z.string().optional(),
  /**
   * File holding the keyholder's long-lived Ed25519 signing key (PKCS#8 PEM,
   * `secagg keyholder keygen`). It signs every round's statement (round id,
   * configuration, CKKS parameters, public-key hash) so that clients, which pin
   * its public key, can refuse a key or parameters the gateway substituted.
   * One of signingKeyFile / signingKey is required unless allowInsecure is set
   * (then an ephemeral key is generated and its public key logged).
   */
  signingKeyFile: z.string().optional(),
  /** The signing key itself, PKCS#8 PEM (prefer signingKeyFile). */
  signingKey: z.string().optional(),
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
  /**
   * host:port of the Prometheus /metrics listener; empty disables it. Loopback
   * by default: the keyholder's metrics show each privacy group's epsilon, so
   * exposing them is a deliberate choice (compose and k8s set an address).
   */
  metricsListenAddress: disableableAddress('127.0.0.1:9300'),
  /** TLS certificate and key (PEM) of the metrics listener: HTTPS when both are set, else plain HTTP. */
  metricsTlsCertFile: z.string().optional(),
  metricsTlsKeyFile: z.string().optional(),
  /** How often readiness checks run (gRPC health), ms. */
  healthCheckIntervalMs: z.coerce.number().int().positive().default(5_000),
  /** DEVELOPMENT ONLY: serve plaintext gRPC. Logged loudly. */
  allowInsecure: envBoolean().default(false),
  /** TEST ONLY: honour rounds that ask for a noise-free release. Never in production. */
  allowUnsafeNoiseFreeRelease: envBoolean().default(false),
  /**
   * delta at which epsilons are stated: the default delta of every privacy
   * group's budget, and the largest delta a coordinator may set for a group.
   */
  delta: z.coerce.number().gt(0).lt(1).default(1e-5),
  /** Budget (epsilon at the group's delta) of a privacy group whose budget was never set. */
  defaultBudgetEpsilon: z.coerce.number().positive().finite().default(10),
  /** Largest budget a coordinator may give a privacy group (SetPrivacyBudget). >= defaultBudgetEpsilon. */
  maxBudgetEpsilon: z.coerce.number().positive().finite().default(10),
  /**
   * Neighbouring relation the accountant uses: `add-remove` (one client's
   * update added or removed: L2 sensitivity C) or `replace-one` (one update
   * replaced by another: 2C). See docs/PRIVACY.md.
   */
  adjacency: z.enum(['add-remove', 'replace-one']).default('add-remove'),
  /**
   * Accountant that composes a group's releases into its epsilon: `rdp`
   * (Rényi DP, the default) or `pld` (privacy loss distribution: tighter,
   * still an upper bound; docs/PRIVACY.md "Accountants"). Switching it
   * re-prices every group's spent epsilon, and does not rewrite the
   * per-release epsilons already in the ledger.
   */
  accountant: z.enum(['rdp', 'pld']).default('rdp'),
  /**
   * Smallest flooding margin, in bits, log2(noise sigma / CKKS decryption
   * error bound), for which a round is created (docs/PRIVACY.md). Rounds below
   * it are refused: their release would leak secret-key information.
   */
  minFloodingMarginBits: z.coerce.number().min(0).max(200).default(40),
  /**
   * TEST ONLY (fault injection): kill this process (SIGKILL) right after a
   * release is charged to the ledger, before it is decrypted and recorded, to
   * prove the charge is durable and the release resumes. Refused unless allowUnsafeNoiseFreeRelease
   * is also set (a test-only keyholder). Logged loudly.
   */
  testCrashAfterCharge: envBoolean().default(false),
  /**
   * Smallest number of contributions any release may decrypt, whatever a
   * round's own min_clients says (rounds asking for fewer are refused at
   * creation). One or two clients' sum is, or nearly is, an individual update.
   */
  minClientsFloor: z.coerce.number().int().min(1).default(3),
  /**
   * How long after a round's deadline its secret key is kept for a release
   * that has not happened yet (the round's finalize may wait for folds, or
   * for this keyholder to come back). Past it the key is destroyed and the
   * round can never be decrypted: FAILED or abandoned rounds do not keep keys.
   */
  keyRetentionAfterDeadlineMs: z.coerce.number().int().nonnegative().default(24 * 3_600_000),
  /** How often keys past their retention are looked for and destroyed, ms. */
  keyExpirySweepIntervalMs: z.coerce.number().int().positive().default(60_000),
  /**
   * Threshold keyholders (issue 16; docs/SECURITY.md "Threshold keyholders"):
   * this keyholder's place (1-based) in a committee of committeeSize
   * keyholders of which committeeThreshold must cooperate in a release. All
   * three or none: unset, the keyholder is the single keyholder (the
   * default). A committee keyholder creates key shares only (CreateKeyShare),
   * never a whole round key, and answers releases with decryption shares.
   */
  committeeIndex: z.coerce.number().int().min(1).max(MAX_KEYHOLDERS).optional(),
  committeeSize: z.coerce.number().int().min(2).max(MAX_KEYHOLDERS).optional(),
  committeeThreshold: z.coerce.number().int().min(2).max(MAX_KEYHOLDERS).optional(),
  /**
   * t-of-n committees: the verification keys (Ed25519 SPKI PEM blocks, one
   * after the other, keyholder 1 first) of every committee keyholder, this
   * one included: they authenticate the dealing keys the key shares are
   * sealed to. Required when committeeThreshold < committeeSize.
   */
  committeeVerificationKeysFile: z.string().optional(),
  /**
   * t-of-n committees: how long a round's key dealing may stay unfinished
   * (CreateKeyShare to AcceptKeyShares, normally well under a second) before
   * its in-memory dealing key and share are dropped; the round must then be
   * created again. Swept with the key expiry.
   */
  keyDealingTimeoutMs: z.coerce.number().int().positive().default(600_000),
  committeeVerificationKeys: z.string().optional(),
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
  if (!config.signingKeyFile && !config.signingKey && !config.allowInsecure) {
    throw new Error(
      'invalid configuration: KEYHOLDER_SIGNING_KEY_FILE or KEYHOLDER_SIGNING_KEY is required (an Ed25519 PKCS#8 PEM key: ' +
        '`secagg keyholder keygen`); only a development keyholder (KEYHOLDER_ALLOW_INSECURE=true) may run with an ephemeral one',
    );
  }
  if (config.defaultBudgetEpsilon > config.maxBudgetEpsilon) {
    throw new Error(
      `invalid configuration: KEYHOLDER_DEFAULT_BUDGET_EPSILON (${config.defaultBudgetEpsilon}) exceeds KEYHOLDER_MAX_BUDGET_EPSILON (${config.maxBudgetEpsilon})`,
    );
  }
  if (Boolean(config.metricsTlsCertFile) !== Boolean(config.metricsTlsKeyFile)) {
    throw new Error('invalid configuration: KEYHOLDER_METRICS_TLS_CERT_FILE and KEYHOLDER_METRICS_TLS_KEY_FILE must be set together');
  }
  const committee = [config.committeeIndex, config.committeeSize, config.committeeThreshold];
  if (committee.some((v) => v !== undefined) && committee.some((v) => v === undefined)) {
    throw new Error('invalid configuration: KEYHOLDER_COMMITTEE_INDEX, KEYHOLDER_COMMITTEE_SIZE and KEYHOLDER_COMMITTEE_THRESHOLD go together');
  }
  if (config.committeeSize !== undefined && (config.committeeIndex! > config.committeeSize || config.committeeThreshold! > config.committeeSize)) {
    throw new Error(
      `invalid configuration: KEYHOLDER_COMMITTEE_INDEX (${config.committeeIndex}) and KEYHOLDER_COMMITTEE_THRESHOLD ` +
        `(${config.committeeThreshold}) must be at most KEYHOLDER_COMMITTEE_SIZE (${config.committeeSize})`,
    );
  }
  if (config.committeeSize !== undefined && config.committeeThreshold! < config.committeeSize) {
    if (!config.committeeVerificationKeysFile && !config.committeeVerificationKeys) {
      throw new Error(
        'invalid configuration: a t-of-n committee (KEYHOLDER_COMMITTEE_THRESHOLD < KEYHOLDER_COMMITTEE_SIZE) needs ' +
          "KEYHOLDER_COMMITTEE_VERIFICATION_KEYS_FILE (or _KEYS): every keyholder's verification key, in committee order",
      );
    }
  }
  // A fault-injection switch must never be reachable on a production keyholder by one stray variable.
  if (config.testCrashAfterCharge && !config.allowUnsafeNoiseFreeRelease) {
    throw new Error(
      'invalid configuration: KEYHOLDER_TEST_CRASH_AFTER_CHARGE is a test-only fault injection and requires the test-only ' +
        'KEYHOLDER_ALLOW_UNSAFE_NOISE_FREE_RELEASE=true as well; never set either in production',
    );
  }
  return config;
}
