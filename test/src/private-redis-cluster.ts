/**
 * A real Redis Cluster of local redis-server processes, for tests: N primaries
 * (no replicas) on free ports, each with its own temp dir and the shipped
 * config/redis.conf (AOF, noeviction), joined with `redis-cli --cluster
 * create`. Stopping it ends the processes and deletes the dirs.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, SHIPPED_REDIS_CONF, startPrivateRedis, type PrivateRedis } from '@secagg/local-cluster';

export interface PrivateRedisCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…` */
  url: string;
  nodes: PrivateRedis[];
  /** SIGTERM every node, wait, delete their dirs. */
  stop(): Promise<void>;
}

const CLUSTER_READY_MS = 30_000;

export async function startPrivateRedisCluster(primaries = 3): Promise<PrivateRedisCluster> {
  const nodes: PrivateRedis[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < primaries; i++) {
      // The bus port is set explicitly: the default (port + 10000) can fall outside 1-65535 for an ephemeral port.
      const busPort = await freePort();
      nodes.push(
        await startPrivateRedis({
          configFile: SHIPPED_REDIS_CONF,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort), '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: CLUSTER_READY_MS,
    });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    await waitForClusterOk(nodes, primaries);
    return { url: `redis+cluster://${addresses.join(',')}`, nodes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Until every node reports cluster_state:ok, all 16384 slots served, and knows every node. */
async function waitForClusterOk(nodes: PrivateRedis[], count: number): Promise<void> {
  const deadline = Date.now() + CLUSTER_READY_MS;
  for (;;) {
    const infos = await Promise.all(
      nodes.map(async (node) => {
        const redis = new Redis(node.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
        try {
          await redis.connect();
          return (await redis.cluster('INFO')) as string;
        } finally {
          redis.disconnect();
        }
      }),
    );
    const ok = infos.every(
      (info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && new RegExp(`cluster_known_nodes:${count}\\b`).test(info),
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster not ok after ${CLUSTER_READY_MS} ms:\n${infos.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
