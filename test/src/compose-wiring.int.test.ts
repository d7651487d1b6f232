/**
 * docker-compose.yml and the Dockerfile, proven without a Docker engine: every
 * service of the compose file is started as a local process with exactly the
 * command, environment, secrets and volumes the file gives it (host names
 * mapped to 127.0.0.1, ports remapped to free ones, container paths mapped to
 * a temp dir), its health check is run, and a full round goes through the
 * result. Any environment variable a service does not know, a missing
 * required setting, a wrong host or port, or a health check that does not
 * work fails the test.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import type { z } from 'zod';
import { configEnvNames } from '@secagg/core';
import { generateSigningKeyPair, mintToken } from '@secagg/auth';
import { createDevCertificates, DEV_CA_PRIVATE_DIR, DEV_TLS_DIR, freePort, redisAnswers, REPO_ROOT, SERVICE_IDENTITIES } from '@secagg/local-cluster';
import { SecaggClient } from '@secagg/sdk';
import { RoundState } from '@secagg/proto';
import { keyholderConfigSchema } from '@secagg/keyholder/config';
import { gatewayConfigSchema } from '@secagg/client-gateway/config';
import { aggregatorConfigSchema } from '@secagg/aggregator/config';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, waitForEnd } from './helpers.js';

interface ComposeService {
  image?: string;
  build?: { args?: Record<string, string> };
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  depends_on?: Record<string, unknown>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets: Record<string, { file: string }>;
}

const SCHEMAS: Record<string, { prefix: string; schema: z.ZodObject }> = {
  keyholder: { prefix: 'KEYHOLDER', schema: keyholderConfigSchema },
  'client-gateway': { prefix: 'GATEWAY', schema: gatewayConfigSchema },
  aggregator: { prefix: 'AGGREGATOR', schema: aggregatorConfigSchema },
};

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

/** The variables .env.example lists (compose interpolates them), each with a fresh value. */
const dotEnv = Object.fromEntries(
  [...readFileSync(join(REPO_ROOT, '.env.example'), 'utf8').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map(([, name]) => [name!, randomBytes(24).toString('hex')]),
);
/** Compose's `${NAME}` / `${NAME:?message}` interpolation, from {@link dotEnv}. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z][A-Z0-9_]*)(?::?[?-][^}]*)?\}/g, (_, name: string) => {
    assert.ok(dotEnv[name] !== undefined, `docker-compose.yml uses \${${name}}, which .env.example does not list`);
    return dotEnv[name]!;
  });
}
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** The "host" side of the containers: project dir copy for ./ paths, volumes, secrets. */
class Sandbox {
  readonly root = mkdtempSync(join(tmpdir(), 'secagg-compose-'));
  readonly ports = new Map<string, number>(); // "service:containerPort" -> host port

  /** Host path of a compose source path (./x relative to the project, or a named volume). */
  source(path: string): string {
    if (path.startsWith('./config/')) return join(REPO_ROOT, path); // shipped files are used as they are
    if (path.startsWith('./')) return join(this.root, 'project', path);
    return join(this.root, 'volumes', path);
  }

  /** Maps a container path of `service` through its volumes and secrets. */
  containerPath(service: string, path: string): string {
    if (path.startsWith('/run/secrets/')) {
      const name = path.slice('/run/secrets/'.length);
      assert.ok(compose.services[service]!.secrets?.includes(name), `${service} reads secret ${name} without declaring it`);
      return this.source(compose.secrets[name]!.file);
    }
    for (const volume of compose.services[service]!.volumes ?? []) {
      const [from, to] = volume.split(':') as [string, string];
      if (path === to || path.startsWith(`${to}/`)) return join(this.source(from), path.slice(to.length));
    }
    return path;
  }

  /**
   * Rewrites one environment value: peers' host:port to the port their first
   * replica got, this replica's own listen addresses (0.0.0.0:P) to its own
   * free ports, and container paths to sandbox paths.
   */
  mapValue(service: string, value: string, ownPorts: Map<number, number>): string {
    let out = value.replace(/\b(redis|keyholder|client-gateway|aggregator):(\d+)\b/g, (_, host: string, port: string) => {
      const mapped = this.ports.get(`${host}:${port}`);
      assert.ok(mapped, `${service} points at ${host}:${port}, which no service listens on`);
      return `127.0.0.1:${mapped}`;
    });
    out = out.replace(/^0\.0\.0\.0:(\d+)$/, (_, port: string) => {
      const mapped = ownPorts.get(Number(port));
      assert.ok(mapped, `${service} listens on ${port} without a listen-address setting`);
      return `127.0.0.1:${mapped}`;
    });
    return out.startsWith('/') ? this.containerPath(service, out) : out;
  }
}

/** Container ports a service listens on (every *_LISTEN_ADDRESS), its gRPC listener first. */
function listenPorts(service: ComposeService): number[] {
  return Object.entries(service.environment ?? {})
    .filter(([k]) => k.endsWith('_LISTEN_ADDRESS'))
    .sort(([a], [b]) => Number(/METRICS/.test(a)) - Number(/METRICS/.test(b)))
    .map(([, v]) => Number(String(v).split(':').pop()));
}

function listenPort(service: ComposeService): number | undefined {
  return listenPorts(service)[0];
}

function waitForLine(child: ChildProcess, pattern: RegExp, name: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${lines.join('\n')}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (pattern.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (d) => lines.push(String(d)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${lines.join('\n')}`));
    });
  });
}

describe('docker-compose.yml wiring, started as local processes', () => {
  const sandbox = new Sandbox();
  const children: ChildProcess[] = [];
  let signingKey = '';
  let keyholderVerificationKey = '';
  let gatewayPort = 0;

  beforeAll(async () => {
    // Secrets the compose file expects, made the way the docs say.
    for (const [name, secret] of Object.entries(compose.secrets)) {
      const path = sandbox.source(secret.file);
      mkdirSync(dirname(path), { recursive: true });
      if (name === 'kek') writeFileSync(path, randomBytes(32).toString('base64'));
    }
    const { privateKeyPem, publicKeyPem } = await generateSigningKeyPair();
    signingKey = privateKeyPem;
    writeFileSync(sandbox.source(compose.secrets['token-public-key']!.file), publicKeyPem);
    // The keyholder's round-signing key; the clients below pin its public half.
    const keyholderKeys = generateKeyPairSync('ed25519');
    writeFileSync(sandbox.source(compose.secrets['keyholder-signing-key']!.file), keyholderKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    keyholderVerificationKey = keyholderKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // As `npm run certs` lays them out: what services mount, and the CA key apart.
    createDevCertificates(sandbox.source(`./${DEV_TLS_DIR}`), SERVICE_IDENTITIES, 30, sandbox.source(`./${DEV_CA_PRIVATE_DIR}`));
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'redis') sandbox.ports.set('redis:6379', await freePort());
      for (const volume of service.volumes ?? []) {
        const from = volume.split(':')[0]!;
        if (!from.startsWith('./')) mkdirSync(sandbox.source(from), { recursive: true }); // named volume
      }
    }
  }, 180_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(sandbox.root, { recursive: true, force: true });
  }, 180_000);

  it('declares only settings each service knows, and every required one', () => {
    for (const [name, { prefix, schema }] of Object.entries(SCHEMAS)) {
      const known = new Set(Object.values(configEnvNames(prefix, schema)));
      const env = compose.services[name]!.environment ?? {};
      for (const key of Object.keys(env)) assert.ok(known.has(key), `${name}: ${key} is not a setting of the service`);
    }
  }, 180_000);

  it('gives each container its own TLS key and the CA certificate only: no other service\'s key, never the CA key', () => {
    const files = (path: string): string[] =>
      !existsSync(path) ? [] : statSync(path).isDirectory() ? readdirSync(path).flatMap((f) => files(join(path, f))) : [path];
    const secretsDir = sandbox.source('./secrets');
    const privateKeys = new Set(files(secretsDir).filter((f) => readFileSync(f, 'utf8').includes('PRIVATE KEY')));
    const caKey = [...privateKeys].filter((f) => f.startsWith(sandbox.source(`./${DEV_CA_PRIVATE_DIR}`)));
    assert.equal(caKey.length, 1, 'the CA key is written apart from the files services mount');
    for (const [name, service] of Object.entries(compose.services)) {
      const visible = [
        ...(service.volumes ?? []).map((v) => v.split(':')[0]!).filter((from) => from.startsWith('./')).flatMap((from) => files(sandbox.source(from))),
        ...(service.secrets ?? []).map((secret) => sandbox.source(compose.secrets[secret]!.file)),
      ];
      const keys = visible.filter((f) => privateKeys.has(f)).map((f) => relative(secretsDir, f));
      const own = SERVICE_IDENTITIES.includes(name as (typeof SERVICE_IDENTITIES)[number]) ? [`${basename(DEV_TLS_DIR)}/${name}-key.pem`] : [];
      // The keyholder also holds its round-signing key (a compose secret), and no one else does.
      if (name === 'keyholder') own.push(relative(secretsDir, sandbox.source(compose.secrets['keyholder-signing-key']!.file)));
      assert.deepEqual(keys, own, `${name} sees exactly its own TLS private key (and never the CA key)`);
      if (own.length > 0) assert.ok(visible.includes(join(sandbox.source(`./${DEV_TLS_DIR}`), 'ca.pem')), `${name} sees the CA certificate`);
    }
  }, 180_000);

  it('builds every service image from files that exist, as a non-root user, with production dependencies only', () => {
    assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage build');
    const pinned = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).devDependencies.node as string;
    assert.match(dockerfile, new RegExp(`ARG NODE_VERSION=${pinned.replace(/\./g, '\\.')}\\b`), 'the image runs the pinned Node');
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of match[1]!.split(/\s+/)) assert.ok(existsSync(join(REPO_ROOT, source)), `Dockerfile copies ${source}, which does not exist`);
    }
    const entry = /ENTRYPOINT .*services\/\$\{SECAGG_SERVICE\}\/dist\/main\.js/.test(dockerfile);
    assert.ok(entry, 'the entrypoint runs services/$SECAGG_SERVICE/dist/main.js');
    for (const [name, service] of Object.entries(compose.services)) {
      if (!service.build) continue;
      const target = service.build.args?.SERVICE;
      assert.equal(target, name, `${name} builds its own service`);
      assert.ok(existsSync(join(REPO_ROOT, 'services', target!, 'dist', 'main.js')), `services/${target}/dist/main.js exists`);
      const bin = JSON.parse(readFileSync(join(REPO_ROOT, 'services', target!, 'package.json'), 'utf8')).bin as Record<string, string>;
      assert.ok(Object.values(bin).includes('dist/main.js'), `${target}'s package bin is its entrypoint`);
    }
  }, 180_000);

  it('starts every service from the compose file, passes the health checks, and runs a round', async () => {
    // Redis with the compose command (config file mapped through the volume).
    const redis = compose.services.redis!;
    if (redis.entrypoint) {
      // The entrypoint renders the ACL file (sh script template output), then hands over to the image's own entrypoint.
      const [shell, script, template, output] = redis.entrypoint as [string, string, string, string];
      const redisEnv = Object.fromEntries(Object.entries(redis.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
      const render = spawnSync(shell, [script, template, output].map((p) => sandbox.containerPath('redis', p)), { env: { PATH: process.env.PATH ?? '', ...redisEnv } });
      assert.equal(render.status, 0, `redis entrypoint failed: ${render.stderr}`);
    }
    const [binary, ...args] = redis.command!;
    const redisPort = sandbox.ports.get('redis:6379')!;
    const redisArgs = args.map((a) => (a.startsWith('/') ? sandbox.containerPath('redis', a) : a));
    children.push(spawn(binary!, [...redisArgs, '--port', String(redisPort), '--dir', sandbox.containerPath('redis', '/data')], { stdio: 'ignore' }));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    for (let i = 0; i < 100 && !(await redisAnswers(redisUrl, 200)); i++) await new Promise((r) => setTimeout(r, 50));
    await runHealthcheck('redis', redis, new Map([[6379, redisPort]]));

    for (const name of ['keyholder', 'client-gateway', 'aggregator']) {
      const service = compose.services[name]!;
      const replicas = service.deploy?.replicas ?? 1;
      for (let r = 0; r < replicas; r++) {
        // Each replica is its own "container": its own free port for every listen address.
        const ownPorts = new Map<number, number>();
        for (const port of listenPorts(service)) ownPorts.set(port, await freePort());
        if (r === 0) for (const [container, host] of ownPorts) sandbox.ports.set(`${name}:${container}`, host);
        const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, sandbox.mapValue(name, interpolate(String(v)), ownPorts)]));
        const child = spawn(process.execPath, [join(REPO_ROOT, 'services', name, 'dist', 'main.js')], {
          env: { PATH: process.env.PATH ?? '', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        await waitForLine(child, /"event":"(listening|ready)"/, `${name}#${r}`, []);
        await runHealthcheck(name, service, ownPorts);
      }
    }
    gatewayPort = sandbox.ports.get(`client-gateway:${listenPort(compose.services['client-gateway']!)}`)!;
    const published = compose.services['client-gateway']!.ports?.[0]?.split(':').pop();
    assert.equal(Number(published), listenPort(compose.services['client-gateway']!), 'the published port is the one the gateway listens on');

    const ca = join(sandbox.source('./secrets/tls'), 'ca.pem');
    const connect = async (role: 'client' | 'coordinator', subject: string) =>
      new SecaggClient({
        address: `127.0.0.1:${gatewayPort}`,
        token: await mintToken(signingKey, { subject, role, ttlSeconds: 600 }),
        caFile: ca,
        keyholderKeys: [keyholderVerificationKey],
      });
    const coordinator = await connect('coordinator', 'ops');
    const length = 3_000;
    // z = 2 keeps the noise-flooding margin above the 40-bit minimum with room to spare (docs/PRIVACY.md).
    const round = await coordinator.createRound({ vectorLength: length, minClients: 3, maxClients: 3, deadlineUnixMs: inMinutes(10), clipNorm: 1, noiseMultiplier: 2 });
    const updates = [1, 2, 3].map((seed) => makeUpdate(length, seed, 1.5));
    await Promise.all(
      updates.map(async (u, i) => {
        const client = await connect('client', `compose-client-${i}`);
        await client.submitUpdate(round.roundId, u);
        client.close();
      }),
    );
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    const trueMean = clippedSum(updates, 1).map((v) => v / 3);
    assert.ok(maxAbsDiff(result.mean, trueMean) <= (6 * result.header.noiseSigma) / 3);
    coordinator.close();
  }, 180_000);

  /**
   * Runs a compose health check inside the replica's "container": its ports
   * mapped, container paths mapped, retried as compose would (a readiness
   * check may need a moment after the listener is up).
   */
  async function runHealthcheck(name: string, service: ComposeService, ports: Map<number, number>): Promise<void> {
    const test = service.healthcheck?.test;
    assert.ok(test && test[0] === 'CMD', `${name} has a CMD health check`);
    let [command, ...args] = test.slice(1) as [string, ...string[]];
    if (command === 'redis-cli') args = ['-p', String(ports.get(6379)), ...args];
    args = args.map((a) =>
      a
        .replace(/^(localhost|127\.0\.0\.1):(\d+)$/, (_, host: string, port: string) => {
          assert.ok(ports.has(Number(port)), `${name}'s health check probes port ${port}, which it does not listen on`);
          return `${host}:${ports.get(Number(port))}`;
        })
        .replace(/^\/.*/, (path) => sandbox.containerPath(name, path)),
    );
    if (command === 'node') command = process.execPath;
    let result = spawnSync(command, args, { cwd: REPO_ROOT, timeout: 10_000, encoding: 'utf8' });
    for (let attempt = 0; attempt < 20 && result.status !== 0; attempt++) {
      await new Promise((r) => setTimeout(r, 250));
      result = spawnSync(command, args, { cwd: REPO_ROOT, timeout: 10_000, encoding: 'utf8' });
    }
    assert.equal(result.status, 0, `${name} health check failed: ${result.stdout} ${result.stderr}`);
  }
});
