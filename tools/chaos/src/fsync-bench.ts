#!/usr/bin/env node
/**
 * What durability costs: ingest with Redis persistence set three ways —
 * the shipped `appendfsync always`, `appendfsync everysec`, and no AOF —
 * measured in the same run, on this machine (docs/RELIABILITY.md).
 *
 *  1. Redis alone, the gateway's write pattern: 8 writers staging 65,649-byte
 *     ciphertexts (MULTI RPUSH + PEXPIRE, 8 in flight each), then small
 *     writes (HINCRBY) from 1 and 16 connections — the commit-sized writes
 *     whose latency an fsync per event-loop turn adds to.
 *  2. The whole ingest path: pre-encrypted updates streamed over gRPC (TLS)
 *     into the gateway, validated, staged, committed and queued, until every
 *     receipt is back (no aggregator running: folds are not ingest).
 *
 * Usage: node tools/chaos/dist/fsync-bench.js [--repeat 3] [--clients 8] [--length 200000]
 * Modes run interleaved (always, everysec, none, always, …), each cluster
 * warmed up by one untimed round then timed over two; medians are reported.
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { createClient } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, SubmitUpdateRequestSchema, type SubmitUpdateRequest } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF, startPrivateRedis } from '@secagg/local-cluster';
import { Prng } from './prng.js';

const MODES = {
  'appendfsync always (shipped)': [] as string[],
  'appendfsync everysec': ['--appendfsync', 'everysec'],
  'no AOF': ['--appendonly', 'no'],
} as const;
type Mode = keyof typeof MODES;

const CIPHERTEXT_BYTES = 65_649;

async function redisStaging(url: string): Promise<{ mbPerS: number; smallOpsPerS1: number; smallOpsPerS16: number }> {
  const writers = 8;
  const perWriter = 150;
  const inflight = 8;
  const chunk = Buffer.alloc(CIPHERTEXT_BYTES, 7);
  const connections = Array.from({ length: 16 }, () => new Redis(url, { maxRetriesPerRequest: 2 }));
  try {
    await Promise.all(connections.map((c) => c.ping()));
    const started = performance.now();
    await Promise.all(
      connections.slice(0, writers).map(async (redis, w) => {
        const key = `bench:s:${w}`;
        const pending: Promise<unknown>[] = [];
        for (let i = 0; i < perWriter; i++) {
          pending.push(redis.multi().rpush(key, chunk).pexpire(key, 60_000).exec());
          if (pending.length >= inflight) await pending.shift();
        }
        await Promise.all(pending);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const mbPerS = (writers * perWriter * CIPHERTEXT_BYTES) / 1e6 / seconds;
    await connections[0]!.del(...Array.from({ length: writers }, (_, w) => `bench:s:${w}`));

    const small = async (clients: number, perClient: number) => {
      const t0 = performance.now();
      await Promise.all(
        connections.slice(0, clients).map(async (redis, c) => {
          for (let i = 0; i < perClient; i++) await redis.hincrby('bench:commits', `c${c}`, 1);
        }),
      );
      return (clients * perClient) / ((performance.now() - t0) / 1000);
    };
    return { mbPerS, smallOpsPerS1: await small(1, 1_000), smallOpsPerS16: await small(16, 300) };
  } finally {
    for (const c of connections) c.disconnect();
  }
}

/** Ingest MB/s of `timed` rounds on one cluster, after one untimed warm-up round (JIT, TLS sessions). */
async function clusterIngest(mode: Mode, clients: number, length: number, seed: number, timed: number): Promise<number[]> {
  const cluster = await LocalCluster.start({
    privateRedis: { configFile: SHIPPED_REDIS_CONF, args: [...MODES[mode]] },
    aggregators: 0,
    allowUnsafeNoiseFreeRelease: true,
  });
  try {
    const rates: number[] = [];
    for (let round = 0; round <= timed; round++) {
      const rate = await ingestRound(cluster, clients, length, seed * 100 + round);
      if (round > 0) rates.push(rate);
    }
    return rates;
  } finally {
    await cluster.stop();
  }
}

async function ingestRound(cluster: LocalCluster, clients: number, length: number, seed: number): Promise<number> {
  const coordinator = await cluster.client('coordinator', 'bench-coordinator');
  const round = await coordinator.createRound({
    vectorLength: length,
    minClients: clients,
    maxClients: clients + 1,
    deadlineUnixMs: BigInt(Date.now() + 3_600_000),
    clipNorm: 1,
    noiseMultiplier: 0,
    unsafeDisableNoise: true,
  });
  const { publicKey } = await coordinator.getRound(round.roundId);
  coordinator.close();
  const params = toCkksParams(round.ckks!);
  const rng = new Prng(seed);
  // Encrypt before the clock starts: this measures ingest, not encryption.
  const uploads: SubmitUpdateRequest[][] = [];
  {
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);
    for (let c = 0; c < clients; c++) {
      const values = new Float64Array(length).map(() => rng.uniform(-1, 1) / Math.sqrt(length));
      const chunks = [...encryptVector(encryptor, params, values)];
      const digest = createHash('sha256');
      const frames: SubmitUpdateRequest[] = [
        create(SubmitUpdateRequestSchema, {
          frame: { case: 'header', value: { roundId: round.roundId, updateId: `bench-${c}`, vectorLength: length, ciphertextCount: chunks.length } },
        }),
      ];
      chunks.forEach((ciphertext, index) => {
        digest.update(ciphertext);
        frames.push(create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } }));
      });
      frames.push(create(SubmitUpdateRequestSchema, { frame: { case: 'trailer', value: { sha256: digest.digest() } } }));
      uploads.push(frames);
    }
  }
  const bytes = uploads.reduce((n, frames) => n + (frames.length - 2) * round.ckks!.ciphertextBytes, 0);
  const raws = await Promise.all(
    uploads.map(async (_, c) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${await cluster.token('client', `bench-client-${c}`)}`);
      return { client: createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() }), metadata };
    }),
  );
  const started = performance.now();
  await Promise.all(uploads.map((frames, c) => raws[c]!.client.submitUpdate(frames, { metadata: raws[c]!.metadata })));
  const seconds = (performance.now() - started) / 1000;
  for (const r of raws) r.client.close();
  return bytes / 1e6 / seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { values: args } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    clients: { type: 'string', default: '8' },
    length: { type: 'string', default: '200000' },
  },
});
const repeat = Number(args.repeat);
const clients = Number(args.clients);
const length = Number(args.length);
const results = new Map<Mode, { staging: number[]; small1: number[]; small16: number[]; ingest: number[] }>();
for (const mode of Object.keys(MODES) as Mode[]) results.set(mode, { staging: [], small1: [], small16: [], ingest: [] });

for (let r = 0; r < repeat; r++) {
  for (const mode of Object.keys(MODES) as Mode[]) {
    const redis = await startPrivateRedis({ configFile: SHIPPED_REDIS_CONF, args: [...MODES[mode]] });
    try {
      const m = await redisStaging(redis.url);
      const row = results.get(mode)!;
      row.staging.push(m.mbPerS);
      row.small1.push(m.smallOpsPerS1);
      row.small16.push(m.smallOpsPerS16);
    } finally {
      await redis.stop();
    }
    results.get(mode)!.ingest.push(...(await clusterIngest(mode, clients, length, r + 1, 2)));
    console.error(`[fsync-bench] round ${r + 1}/${repeat}: ${mode} done`);
  }
}

const base = results.get('no AOF')!;
console.log(`\nIngest cost of Redis persistence (medians: Redis-only of ${repeat} runs, end to end of ${2 * repeat} rounds of ${clients} clients x ${length} values)\n`);
console.log('| Redis persistence | staging, Redis only (MB/s) | small writes, 1 conn (ops/s) | small writes, 16 conns (ops/s) | gateway ingest, end to end (MB/s) |');
console.log('|---|---:|---:|---:|---:|');
for (const [mode, row] of results) {
  const cell = (xs: number[], ref: number[]) => `${median(xs).toFixed(0)} (${((median(xs) / median(ref)) * 100).toFixed(0)}%)`;
  console.log(`| ${mode} | ${cell(row.staging, base.staging)} | ${cell(row.small1, base.small1)} | ${cell(row.small16, base.small16)} | ${cell(row.ingest, base.ingest)} |`);
}
process.exit(0);
