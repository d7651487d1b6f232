/**
 * Redis SET throughput with ciphertext-sized Buffer values, N commands in
 * flight on one ioredis connection (8 as the issue asks; also as many as the
 * gateway keeps in flight, since with appendfsync always Redis fsyncs once
 * per event-loop batch and more in flight means fewer fsyncs per byte), against a private redis-server (so the
 * figure is this run's alone and the shared Redis is never touched): once with
 * the shipped config/redis.conf (AOF, appendfsync always: what an
 * acknowledged update costs) and once without persistence.
 */
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SHIPPED_REDIS_CONF, startPrivateRedis } from '@secagg/local-cluster';

/** Commands in flight at once, as the issue asks. */
export const REDIS_LIMIT_CONCURRENCY = 8;

/** Distinct keys written in rotation, so memory stays bounded however long the measurement runs. */
const KEYS_PER_WRITER = 4;

/** MB/s (10^6 bytes) of SET `valueBytes`-byte Buffers, `concurrency` in flight, for ≥ `seconds`, `trials` times, on one fresh private redis-server. */
export async function measureRedisSetMBps(options: {
  valueBytes: number;
  seconds: number;
  trials: number;
  persistence: 'shipped' | 'none';
  concurrency: number;
}): Promise<number[]> {
  const server = await startPrivateRedis(options.persistence === 'shipped' ? { configFile: SHIPPED_REDIS_CONF } : {});
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    // ioredis turns a plain Uint8Array into text: always a Buffer (REFERENCE.md).
    const value = randomBytes(options.valueBytes);
    const write = async (writer: number, untilMs: number): Promise<number> => {
      let bytes = 0;
      for (let i = 0; performance.now() < untilMs; i++) {
        await redis.set(`bench:${writer}:${i % KEYS_PER_WRITER}`, value);
        bytes += value.length;
      }
      return bytes;
    };
    const writers = Array.from({ length: options.concurrency }, (_, w) => w);
    await Promise.all(writers.map((w) => write(w, performance.now() + 200))); // warm-up
    const samples: number[] = [];
    for (let t = 0; t < options.trials; t++) {
      const start = performance.now();
      const counts = await Promise.all(writers.map((w) => write(w, start + options.seconds * 1_000)));
      const seconds = (performance.now() - start) / 1_000;
      samples.push(counts.reduce((a, b) => a + b, 0) / seconds / 1e6);
    }
    return samples;
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(server.dir, { recursive: true, force: true });
  }
}
