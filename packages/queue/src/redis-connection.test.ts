/** Redis Cluster URLs and the queue prefix's hash tag. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import { createRedis, isRedisClusterUrl, parseRedisClusterUrl } from './redis-connection.js';
import { queuePrefix } from './queues.js';

describe('Redis Cluster URLs', () => {
  it('parses seed nodes, credentials and TLS', () => {
    assert.deepEqual(parseRedisClusterUrl('redis+cluster://127.0.0.1:7000,127.0.0.1:7001'), {
      seeds: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      tls: false,
    });
    assert.deepEqual(parseRedisClusterUrl('rediss+cluster://app:p%40ss%3Aword@redis-0.redis:6380,[::1]:7002,redis-2/'), {
      seeds: [
        { host: 'redis-0.redis', port: 6380 },
        { host: '::1', port: 7002 },
        { host: 'redis-2', port: 6379 },
      ],
      username: 'app',
      password: 'p@ss:word',
      tls: true,
    });
    assert.deepEqual(parseRedisClusterUrl('redis+cluster://:secret@h:1').password, 'secret');
  });

  it('refuses malformed URLs without repeating a password', () => {
    for (const url of [
      'redis+cluster://',
      'redis+cluster://h:1/0',
      'redis+cluster://h:1?x=1',
      'redis+cluster://u:topsecret@h:99999',
      'redis+cluster://u:topsecret@h:1,,h:2',
      'redis+cluster://h:port',
    ]) {
      assert.throws(
        () => parseRedisClusterUrl(url),
        (error: Error) => /malformed Redis Cluster URL/.test(error.message) && !error.message.includes('topsecret'),
        url,
      );
    }
  });

  it('chooses Cluster or Redis by the URL scheme', () => {
    assert.equal(isRedisClusterUrl('redis+cluster://h:1'), true);
    assert.equal(isRedisClusterUrl('REDISS+CLUSTER://h:1'), true);
    assert.equal(isRedisClusterUrl('redis://h:1'), false);
    const cluster = createRedis('redis+cluster://127.0.0.1:1', { forWorker: true });
    const single = createRedis('redis://127.0.0.1:1');
    try {
      assert.ok(cluster instanceof Cluster);
      // BullMQ reads the blocking-connection setting from the node options of a Cluster.
      assert.equal(cluster.options.redisOptions?.maxRetriesPerRequest, null);
      assert.ok(single instanceof Redis);
      assert.equal(single.options.maxRetriesPerRequest, 2);
    } finally {
      cluster.disconnect();
      single.disconnect();
    }
  });
});

describe('queuePrefix', () => {
  it('tags the BullMQ prefix so a queue lives in one slot, under the key prefix', () => {
    assert.equal(queuePrefix('secagg'), 'secagg:{secagg:q}');
    assert.throws(() => queuePrefix('se{cagg'));
  });
});
