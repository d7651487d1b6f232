/**
 * ioredis connections from one URL setting: a single Redis (`redis://`,
 * `rediss://`, as ioredis parses them) or a Redis Cluster
 * (`redis+cluster://`, `rediss+cluster://` for TLS).
 *
 * A cluster URL lists seed nodes, comma-separated; the client discovers every
 * other node and the slot map from any one of them (CLUSTER SLOTS), and
 * follows MOVED/ASK redirections when slots move:
 *
 *   redis+cluster://[user:password@]host1:port1,host2:port2[,...]
 *   rediss+cluster://user:pass%40word@redis-0.redis:6379,redis-1.redis:6379
 *
 * User and password are percent-encoded like in any URL; a port defaults to
 * 6379; IPv6 hosts go in brackets (`[::1]:7000`). No database number: a
 * cluster has only database 0.
 *
 * `Redis` and `Cluster` share ioredis' command API (`defineCommand`,
 * `multi`, the `…Buffer` variants), so code typed against
 * {@link RedisConnection} runs on both; BullMQ accepts either as its
 * connection. What differs is key placement: on a cluster, every multi-key
 * command, MULTI and Lua script must touch keys of one hash slot (see
 * `@secagg/store` keys.ts and {@link queuePrefix}).
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';

/** A single Redis or a Redis Cluster: the same command API. */
export type RedisConnection = Redis | Cluster;

/** Seed nodes and credentials of a Redis Cluster URL. */
export interface RedisClusterAddress {
  seeds: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#@]+)\/?$/i;

/** True for `redis+cluster://` and `rediss+cluster://` URLs. */
export function isRedisClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//i.test(url);
}

/**
 * Parses a Redis Cluster URL. Throws on anything malformed, with a message
 * that never repeats the URL (it may carry a password).
 */
export function parseRedisClusterUrl(url: string): RedisClusterAddress {
  const match = CLUSTER_URL.exec(url);
  if (!match) {
    throw new Error('malformed Redis Cluster URL: expected redis+cluster://[user:password@]host:port[,host:port...] (no path or query)');
  }
  const [, scheme, userinfo, hosts] = match as unknown as [string, string, string | undefined, string];
  const seeds = hosts.split(',').map((seed) => parseSeed(seed.trim()));
  const address: RedisClusterAddress = { seeds, tls: scheme.toLowerCase() === 'rediss' };
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    const username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
    const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
    if (username) address.username = username;
    if (password) address.password = password;
  }
  return address;
}

function parseSeed(seed: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(seed);
  const port = Number(match?.[3] ?? 6379);
  if (!match || port < 1 || port > 65_535) {
    throw new Error(`malformed Redis Cluster URL: seed node "${seed}" is not host[:port]`);
  }
  return { host: (match[1] ?? match[2])!, port };
}

/** Reconnect forever with a capped backoff: Redis may restart (or fail over) under us. */
const retryDelayMs = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

/**
 * An ioredis connection to a single Redis or a Redis Cluster, chosen by the
 * URL's scheme. `forWorker` connections never give up on a command (BullMQ's
 * blocking commands need `maxRetriesPerRequest: null`; on a cluster the
 * setting goes to every node connection, where BullMQ looks for it); others
 * fail fast so a request handler can answer UNAVAILABLE.
 */
export function createRedis(url: string, options: { forWorker?: boolean; name?: string } = {}): RedisConnection {
  const settings: RedisOptions = {
    maxRetriesPerRequest: options.forWorker ? null : 2,
    enableReadyCheck: true,
    connectionName: options.name,
  };
  if (!isRedisClusterUrl(url)) return new Redis(url, { ...settings, retryStrategy: retryDelayMs });
  const address = parseRedisClusterUrl(url);
  const seeds: ClusterNode[] = address.seeds.map(({ host, port }) => ({ host, port }));
  return new Cluster(seeds, {
    redisOptions: {
      ...settings,
      username: address.username,
      password: address.password,
      // System CAs; every node's certificate must match the address the cluster announces for it.
      tls: address.tls ? {} : undefined,
    },
    enableReadyCheck: true,
    clusterRetryStrategy: retryDelayMs,
  });
}

/** Every primary of a cluster, or the single Redis itself (SCAN must visit each primary). */
export function primaries(connection: RedisConnection): Redis[] {
  return connection instanceof Cluster ? connection.nodes('master') : [connection];
}
