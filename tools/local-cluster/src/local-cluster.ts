/**
 * A whole secagg cluster as local child processes: one keyholder (or a
 * committee of threshold keyholders), one gateway, N aggregators, against a given Redis (or a private redis-server).
 * Used by `npm run demo`, the cross-service tests and the harnesses. Every
 * process is the real service binary with its real configuration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { isRedisClusterUrl, parseRedisClusterUrl, primaries } from '@secagg/queue';
import { generateSigningKeyPair, mintToken, type Role } from '@secagg/auth';
import { PinnedKeyholderKeys, SecaggClient } from '@secagg/sdk';
import { createDevCertificates, type CertificateFiles } from './certs.js';
import { redisAnswers, redisServerOnPath, startPrivateRedis, type PrivateRedis, type PrivateRedisOptions } from './redis-server.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The Redis configuration the project ships (compose, chaos tests). */
export const SHIPPED_REDIS_CONF = join(REPO_ROOT, 'config', 'redis.conf');

export type ServiceName = 'keyholder' | 'client-gateway' | 'aggregator';

export interface LocalClusterOptions {
  /** Redis to use; default REDIS_URL or redis://127.0.0.1:6379, else a private redis-server. */
  redisUrl?: string;
  /** Always start a private redis-server with these options (e.g. the shipped config/redis.conf). */
  privateRedis?: PrivateRedisOptions;
  aggregators?: number;
  /** Key prefix; a random one by default so runs never share keys. */
  keyPrefix?: string;
  /** TEST ONLY: let rounds ask for a noise-free release. */
  allowUnsafeNoiseFreeRelease?: boolean;
  /**
   * The keyholder's floor on contributions per release (KEYHOLDER_MIN_CLIENTS_FLOOR).
   * Default 1 here, so tests can run rounds of one or two clients; a production
   * keyholder's default is 3 (the demo sets it).
   */
  minClientsFloor?: number;
  /**
   * Where gateway and aggregators keep update ciphertexts (GATEWAY_/AGGREGATOR_CIPHERTEXT_STORE):
   * a path or s3:// URL; default a directory in the cluster's work dir, shared by its processes.
   */
  ciphertextStore?: string;
  /** Extra environment per service. */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /**
   * Directory for service logs, kept after `stop()`. Default: the cluster's
   * temp dir, removed on `stop()` unless SECAGG_KEEP_LOGS is set. The temp dir
   * (TLS keys, keyholder store, signing keys) is removed either way.
   */
  logDir?: string;
  /** Serve and call over plaintext gRPC (development flag) instead of TLS with development certificates. */
  insecure?: boolean;
  /**
   * Threshold keyholders (issue 16): a committee of this many keyholders
   * (processes `keyholder-1` … `keyholder-n`, each with its own data dir,
   * KEK, signing key and TLS identity) instead of the single `keyholder`.
   * Default 1.
   */
  keyholders?: number;
  /** Keyholders a release needs (t; default n). */
  threshold?: number;
}

interface Managed {
  name: string;
  service: ServiceName;
  env: Record<string, string>;
  child: ChildProcess;
  log: WriteStream;
  lines: string[];
}

export class LocalCluster {
  gatewayAddress = '';
  keyholderAddress = '';
  private readonly processes = new Map<string, Managed>();
  private signingKeyPem = '';
  private redis: PrivateRedis | undefined;
  private ownsRedisDir = false;
  /** Port that answers grpc.health.v1 for each process (its gRPC listener; the aggregators' health listener). */
  readonly healthPorts = new Map<string, number>();
  /** Port of each process's Prometheus /metrics listener, by process name. */
  readonly metricsPorts = new Map<string, number>();
  /** Development CA and service certificates (undefined when insecure). */
  certificates: CertificateFiles | undefined;
  /**
   * The keyholder's round-signing key: its file (KEYHOLDER_SIGNING_KEY_FILE)
   * and the verification key (PEM) that this cluster's clients pin.
   */
  keyholderSigningKeyFile = '';
  keyholderVerificationKeyPem = '';
  /** Every keyholder's verification key (one for the single keyholder; n for a committee, in committee order). */
  keyholderVerificationKeyPems: string[] = [];
  /** Keyholder process names, in committee order (`keyholder` alone for the single keyholder). */
  keyholderNames: string[] = [];
  /** Each keyholder process's address, by name. */
  readonly keyholderAddresses = new Map<string, string>();

  private constructor(
    readonly options: LocalClusterOptions,
    readonly redisUrl: string,
    readonly keyPrefix: string,
    readonly workDir: string,
  ) {}

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    let redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    let privateRedis: PrivateRedis | undefined;
    let ownsRedisDir = false;
    if (options.privateRedis || !(await redisAnswers(redisUrl))) {
      // A cluster was asked for: a private single Redis in its place would hide the point.
      if (!options.privateRedis && isRedisClusterUrl(redisUrl)) throw new Error('no node of the Redis Cluster given by redisUrl answers');
      if (!redisServerOnPath()) {
        throw new Error(
          `no Redis answers at ${redisUrl} and redis-server is not on PATH: install Redis 7 (e.g. apt-get install redis-server) or set REDIS_URL`,
        );
      }
      privateRedis = await startPrivateRedis(options.privateRedis ?? {});
      redisUrl = privateRedis.url;
      // startPrivateRedis made a temp dir for the AOF unless given one: ours to remove.
      ownsRedisDir = options.privateRedis?.dir === undefined;
    }
    const workDir = mkdtempSync(join(tmpdir(), 'secagg-cluster-'));
    const cluster = new LocalCluster(options, redisUrl, options.keyPrefix ?? `secagg-${randomBytes(4).toString('hex')}`, workDir);
    cluster.redis = privateRedis;
    cluster.ownsRedisDir = ownsRedisDir;
    try {
      await cluster.boot();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private async boot(): Promise<void> {
    if (this.options.logDir) mkdirSync(this.options.logDir, { recursive: true });
    const { privateKeyPem, publicKeyPem } = await generateSigningKeyPair();
    this.signingKeyPem = privateKeyPem;
    const insecure = this.options.insecure ?? false;
    const certs = insecure ? undefined : createDevCertificates(join(this.workDir, 'tls'));
    this.certificates = certs;
    const tlsEnv = (prefix: string, identity: string, caKey: string): Record<string, string> =>
      certs
        ? { [`${prefix}_TLS_CERT_FILE`]: certs.cert(identity).certFile, [`${prefix}_TLS_KEY_FILE`]: certs.cert(identity).keyFile, [`${prefix}_${caKey}`]: certs.caFile }
        : { [`${prefix}_ALLOW_INSECURE`]: 'true' };
    const committeeSize = this.options.keyholders ?? 1;
    const committee = committeeSize > 1;
    this.keyholderNames = committee ? Array.from({ length: committeeSize }, (_, i) => `keyholder-${i + 1}`) : ['keyholder'];
    if (committee && certs) createDevCertificates(join(this.workDir, 'tls'), this.keyholderNames);
    const signingKeys = this.keyholderNames.map((name) => this.newKeyholderSigningKey(`${name}.pem`));
    this.keyholderSigningKeyFile = signingKeys[0]!.file;
    this.keyholderVerificationKeyPem = signingKeys[0]!.verificationKeyPem;
    this.keyholderVerificationKeyPems = signingKeys.map((k) => k.verificationKeyPem);
    const threshold = this.options.threshold ?? committeeSize;
    // Keyholders start one after another: each loads SEAL, and the machine may be small.
    for (const [i, name] of this.keyholderNames.entries()) {
      const signing = signingKeys[i]!;
      const port = await this.spawnService(name, 'keyholder', {
        KEYHOLDER_LISTEN_ADDRESS: '127.0.0.1:0',
        KEYHOLDER_DATA_DIR: join(this.workDir, name),
        KEYHOLDER_KEK: randomBytes(32).toString('base64'),
        KEYHOLDER_SIGNING_KEY_FILE: signing.file,
        KEYHOLDER_METRICS_LISTEN_ADDRESS: '127.0.0.1:0',
        ...tlsEnv('KEYHOLDER', name, 'TLS_CA_FILE'),
        KEYHOLDER_ALLOW_UNSAFE_NOISE_FREE_RELEASE: String(this.options.allowUnsafeNoiseFreeRelease ?? false),
        KEYHOLDER_MIN_CLIENTS_FLOOR: String(this.options.minClientsFloor ?? 1),
        ...(committee
          ? {
              KEYHOLDER_COMMITTEE_INDEX: String(i + 1),
              KEYHOLDER_COMMITTEE_SIZE: String(committeeSize),
              KEYHOLDER_COMMITTEE_THRESHOLD: String(threshold),
              // t-of-n: the keys that authenticate each keyholder's dealing key.
              ...(threshold < committeeSize ? { KEYHOLDER_COMMITTEE_VERIFICATION_KEYS: this.keyholderVerificationKeyPems.join('') } : {}),
            }
          : {}),
        ...this.options.env?.keyholder,
      });
      // Dial by name: the development certificates name localhost, and TLS
      // servername must not be an IP address (RFC 6066; Node warns).
      this.keyholderAddresses.set(name, `localhost:${port}`);
    }
    this.keyholderAddress = this.keyholderAddresses.get(this.keyholderNames[0]!)!;
    const keyholderEnv = (prefix: string): Record<string, string> =>
      committee
        ? {
            [`${prefix}_KEYHOLDER_COMMITTEE_ADDRESSES`]: this.keyholderNames.map((n) => this.keyholderAddresses.get(n)!).join(','),
            [`${prefix}_KEYHOLDER_COMMITTEE_THRESHOLD`]: String(this.options.threshold ?? committeeSize),
          }
        : { [`${prefix}_KEYHOLDER_ADDRESS`]: this.keyholderAddress };
    const gatewayPort = await this.spawnService('client-gateway', 'client-gateway', {
      GATEWAY_LISTEN_ADDRESS: '127.0.0.1:0',
      GATEWAY_REDIS_URL: this.redisUrl,
      GATEWAY_KEY_PREFIX: this.keyPrefix,
      ...keyholderEnv('GATEWAY'),
      GATEWAY_CIPHERTEXT_STORE: this.ciphertextStore,
      GATEWAY_TOKEN_PUBLIC_KEY: publicKeyPem,
      GATEWAY_METRICS_LISTEN_ADDRESS: '127.0.0.1:0',
      ...tlsEnv('GATEWAY', 'client-gateway', 'KEYHOLDER_CA_FILE'),
      ...this.options.env?.['client-gateway'],
    });
    this.gatewayAddress = `localhost:${gatewayPort}`;
    const aggregators = this.options.aggregators ?? 2;
    await Promise.all(
      Array.from({ length: aggregators }, (_, i) =>
        this.spawnService(`aggregator-${i + 1}`, 'aggregator', {
          AGGREGATOR_REDIS_URL: this.redisUrl,
          AGGREGATOR_KEY_PREFIX: this.keyPrefix,
          ...keyholderEnv('AGGREGATOR'),
          AGGREGATOR_CIPHERTEXT_STORE: this.ciphertextStore,
          AGGREGATOR_HEALTH_LISTEN_ADDRESS: '127.0.0.1:0',
          AGGREGATOR_METRICS_LISTEN_ADDRESS: '127.0.0.1:0',
          ...tlsEnv('AGGREGATOR', 'aggregator', 'KEYHOLDER_CA_FILE'),
          ...this.options.env?.aggregator,
        }),
      ),
    );
  }

  /**
   * A new keyholder round-signing key in this cluster's work dir (mode 0600),
   * e.g. for a rotation test: restart the keyholder with
   * { KEYHOLDER_SIGNING_KEY_FILE: file }.
   */
  newKeyholderSigningKey(name: string): { file: string; keyId: string; verificationKeyPem: string } {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const verificationKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // Short paths: a long run of path characters looks like encoded data to the log scan (secrets-in-logs test).
    const dir = join(this.workDir, 'signing');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, name);
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600, flag: 'wx' });
    return { file, keyId: PinnedKeyholderKeys.fromPems([verificationKeyPem]).keyIds[0]!, verificationKeyPem };
  }

  /** The ciphertext store gateway and aggregators share. */
  get ciphertextStore(): string {
    return this.options.ciphertextStore ?? join(this.workDir, 'ciphertexts');
  }

  /** Starts a service and resolves with its port once it logs `listening` (or `ready`). */
  private spawnService(name: string, service: ServiceName, env: Record<string, string>): Promise<number> {
    const script = join(REPO_ROOT, 'services', service, 'dist', 'main.js');
    const child = spawn(process.execPath, ['--enable-source-maps', script], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', SECAGG_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(join(this.logDir, `${name}.log`), { flags: 'a' });
    const managed: Managed = { name, service, env, child, log, lines: [] };
    this.processes.set(name, managed);
    child.stderr!.pipe(log, { end: false });
    return new Promise((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s; see ${join(this.logDir, `${name}.log`)}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        log.write(`${line}\n`);
        managed.lines.push(line);
        if (managed.lines.length > 2_000) managed.lines.shift();
        if (line.includes('"event":"metrics"')) {
          const port = /"port":(\d+)/.exec(line)?.[1];
          if (port) this.metricsPorts.set(name, Number(port));
        }
        if (line.includes('"event":"listening"') || line.includes('"event":"ready"')) {
          clearTimeout(timer);
          const port = /"port":(\d+)/.exec(line)?.[1];
          if (port) this.healthPorts.set(name, Number(port));
          resolvePort(port ? Number(port) : 0);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${signal ?? code}) while starting; see ${join(this.logDir, `${name}.log`)}`));
      });
    });
  }

  get logDir(): string {
    return this.options.logDir ?? this.workDir;
  }

  /** Log lines a service printed on stdout (most recent 2,000). */
  logLines(name: string): string[] {
    return this.processes.get(name)?.lines ?? [];
  }

  /** The environment a service was started with (for tests that inspect what a process holds). */
  environmentOf(name: string): Record<string, string> {
    return { ...(this.processes.get(name)?.env ?? {}) };
  }

  processNames(): string[] {
    return [...this.processes.keys()];
  }

  pidOf(name: string): number | undefined {
    return this.processes.get(name)?.child.pid;
  }

  /**
   * Starts a stopped (killed) service again with the same configuration (and
   * `envChanges`, e.g. a rotated key, kept for later restarts). A
   * service with a listener comes back on the port it had, so peers and
   * clients reconnect to the same address. `envChanges` are kept for later
   * restarts too (a value of undefined removes the variable): e.g. a test-only
   * clock offset or crash switch for this process.
   */
  async restart(name: string, envChanges: Record<string, string | undefined> = {}): Promise<void> {
    const managed = this.processes.get(name);
    if (!managed) throw new Error(`no process ${name}`);
    if (managed.child.exitCode === null && managed.child.signalCode === null) await this.kill(name, 'SIGKILL');
    managed.log.end();
    for (const [key, value] of Object.entries(envChanges)) {
      if (value === undefined) delete managed.env[key];
      else managed.env[key] = value;
    }
    const env = { ...managed.env };
    // Clients dial localhost:<port> (the certificates name localhost); the listener binds 127.0.0.1.
    const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);
    const keyholder = this.keyholderAddresses.get(name);
    if (keyholder) env.KEYHOLDER_LISTEN_ADDRESS = `127.0.0.1:${portOf(keyholder)}`;
    if (name === 'client-gateway') env.GATEWAY_LISTEN_ADDRESS = `127.0.0.1:${portOf(this.gatewayAddress)}`;
    await this.spawnService(name, managed.service, env);
  }

  /** True while the named process runs. */
  isRunning(name: string): boolean {
    const managed = this.processes.get(name);
    return managed !== undefined && managed.child.exitCode === null && managed.child.signalCode === null;
  }

  /** The private redis-server, when this cluster started one. */
  get privateRedis(): PrivateRedis | undefined {
    return this.redis;
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const managed = this.processes.get(name);
    if (!managed || managed.child.exitCode !== null || managed.child.signalCode !== null) return;
    await new Promise<void>((resolveExit) => {
      managed.child.once('exit', () => resolveExit());
      managed.child.kill(signal);
    });
  }

  /** Sends `signal` without waiting (SIGSTOP / SIGCONT freeze and thaw a process). */
  signal(name: string, signal: NodeJS.Signals): void {
    const managed = this.processes.get(name);
    if (managed && managed.child.exitCode === null && managed.child.signalCode === null) managed.child.kill(signal);
  }

  async token(role: Role, subject: string, round?: string): Promise<string> {
    return mintToken(this.signingKeyPem, { subject, role, ttlSeconds: 3_600, round });
  }

  /**
   * An SDK client with a fresh token for `subject`. Simulated clients share
   * this process, so by default they encrypt on the calling thread rather
   * than each starting a worker pool.
   */
  async client(
    role: Role,
    subject: string,
    options: { encryptionThreads?: number; keyholderKeys?: readonly string[]; maxAttempts?: number; initialBackoffMs?: number } = {},
  ): Promise<SecaggClient> {
    return new SecaggClient({
      address: this.gatewayAddress,
      token: await this.token(role, subject),
      caFile: this.certificates?.caFile,
      insecure: this.certificates === undefined,
      encryptionThreads: options.encryptionThreads ?? 0,
      maxAttempts: options.maxAttempts,
      initialBackoffMs: options.initialBackoffMs,
      // Pinned like a real client would: the verification key of the keyholder this cluster started.
      keyholderKeys: options.keyholderKeys ?? this.keyholderVerificationKeyPems,
    });
  }

  /** Issues a certificate for another identity from this cluster's development CA (tests of authorization). */
  issueCertificate(identity: string): void {
    createDevCertificates(join(this.workDir, 'tls'), [identity]);
  }

  /** Channel credentials that reach this cluster's listeners (TLS with its CA, or plaintext when insecure). */
  channelCredentials(identity?: string): grpc.ChannelCredentials {
    if (!this.certificates) return grpc.credentials.createInsecure();
    const ca = readFileSync(this.certificates.caFile);
    if (!identity) return grpc.credentials.createSsl(ca);
    const { certFile, keyFile } = this.certificates.cert(identity);
    return grpc.credentials.createSsl(ca, readFileSync(keyFile), readFileSync(certFile));
  }

  /** The PEM private key this cluster's gateway trusts tokens from (to mint tokens outside this process, e.g. with the CLI). */
  get tokenSigningKeyPem(): string {
    return this.signingKeyPem;
  }

  /**
   * Stops every process (SIGTERM, then SIGKILL), deletes this run's Redis keys
   * and its temp dir: TLS keys, keyholder store and signing keys always; logs
   * too unless they go to `logDir` or SECAGG_KEEP_LOGS is set (then only the
   * logs stay). A private Redis's data dir goes with it when this cluster made it.
   */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.processes.values()].map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) {
          const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
          p.child.kill('SIGTERM');
          const timeout = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timeout);
        }
        p.log.end();
      }),
    );
    this.processes.clear();
    const keepLogs = process.env.SECAGG_KEEP_LOGS !== undefined && process.env.SECAGG_KEEP_LOGS !== '';
    if (this.redis) {
      await this.redis.stop();
      if (this.ownsRedisDir && !keepLogs) rmSync(this.redis.dir, { recursive: true, force: true });
    } else await deleteKeysWithPrefix(this.redisUrl, this.keyPrefix).catch(() => {});
    if (this.options.logDir || !keepLogs) rmSync(this.workDir, { recursive: true, force: true });
    else {
      // Keep what a post-mortem needs, never the secrets beside it.
      for (const entry of readdirSync(this.workDir)) {
        if (!entry.endsWith('.log')) rmSync(join(this.workDir, entry), { recursive: true, force: true });
      }
    }
  }
}

/**
 * Deletes every key under `prefix:` (SCAN, never FLUSH: the Redis may be
 * shared). On a Redis Cluster (`redis+cluster://` URL) SCAN sees one node's
 * keys only, so every primary is scanned, and keys are deleted one by one
 * (one node holds many slots; a multi-key UNLINK must stay in one).
 */
export async function deleteKeysWithPrefix(redisUrl: string, prefix: string): Promise<void> {
  // One connection attempt and no retries: cleanup must not hang on a Redis that is gone.
  let redis: Redis | Cluster;
  if (isRedisClusterUrl(redisUrl)) {
    const { seeds, username, password, tls } = parseRedisClusterUrl(redisUrl);
    redis = new Cluster(seeds, {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
      redisOptions: { maxRetriesPerRequest: 1, username, password, tls: tls ? {} : undefined },
    });
  } else {
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  }
  await redis.connect();
  try {
    for (const node of primaries(redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) {
          const pipeline = node.pipeline();
          for (const key of keys) pipeline.unlink(key);
          await pipeline.exec();
        }
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}
