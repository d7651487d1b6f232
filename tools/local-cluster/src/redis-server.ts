/** Finding a Redis for a local cluster, or starting a private one. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRedisClusterUrl, parseRedisClusterUrl } from '@secagg/queue';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * True if something answers PING with PONG at `url` within `timeoutMs`. For a
 * Redis Cluster URL (`redis+cluster://…`), if any of its seed nodes does.
 */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  if (isRedisClusterUrl(url)) {
    const { seeds } = parseRedisClusterUrl(url);
    const answers = await Promise.all(seeds.map(({ host, port }) => pingAnswers(host, port, timeoutMs)));
    return answers.includes(true);
  }
  const { hostname, port } = new URL(url);
  return pingAnswers(hostname, Number(port || 6379), timeoutMs);
}

function pingAnswers(hostname: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, hostname, () => socket.write('PING\r\n'));
    // NOAUTH: a Redis whose default user is disabled (shipped ACLs) answers, just not to strangers.
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: no shutdown save, no goodbye. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (reloading its AOF). */
  restart(): Promise<void>;
}

export function redisServerOnPath(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface PrivateRedisOptions {
  /** A redis.conf to load first (e.g. the shipped config/redis.conf). */
  configFile?: string;
  /** Extra arguments, applied after the config file. */
  args?: string[];
  port?: number;
  dir?: string;
}

async function spawnRedis(port: number, dir: string, options: PrivateRedisOptions): Promise<ChildProcess> {
  const args = [
    ...(options.configFile ? [options.configFile] : []),
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    ...(options.configFile ? [] : ['--save', '', '--maxmemory-policy', 'noeviction']),
    ...(options.args ?? []),
  ];
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(url, 200))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('redis-server did not answer within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

function waitExit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Starts `redis-server` on a free port with its data in a temp dir. */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'secagg-redis-'));
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    process: await spawnRedis(port, dir, options),
    stop: () => waitExit(redis.process, 'SIGTERM'),
    kill: () => waitExit(redis.process, 'SIGKILL'),
    restart: async () => {
      await waitExit(redis.process, 'SIGKILL');
      redis.process = await spawnRedis(port, dir, options);
    },
  };
  return redis;
}
