/**
 * secagg on a real 3-primary Redis Cluster: rounds with two aggregators run
 * through a cluster URL (`redis+cluster://…`) and release their exact sums,
 * and the keys prove why that works rather than that it happened to: rounds
 * are created until their slots cover every primary, every round's keys and
 * the queues' keys each sit in one slot (checked with the cluster's own
 * CLUSTER KEYSLOT), and every Lua script and MULTI ran against them (a
 * cross-slot one fails with CROSSSLOT).
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { Code, type SecaggError } from '@secagg/core';
import { RoundState, type Round } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { createRedis, primaries, queuePrefix } from '@secagg/queue';
import { hashTagOf, RoundKeys } from '@secagg/store';
import { asClient, clippedSum, inMinutes, makeUpdate, maxAbsDiff, submitEach, waitForEnd } from './helpers.js';
import { startPrivateRedisCluster, type PrivateRedisCluster } from './private-redis-cluster.js';

const PRIMARIES = 3;
const LENGTH = 5_003; // two ciphertexts, the last one partly filled
const CLIENTS = 3;
/** Rounds created at most while looking for one on every primary: all three are hit within 30 with probability > 0.99998. */
const MAX_ROUNDS = 30;

describe('a round on a 3-primary Redis Cluster', () => {
  let redisCluster: PrivateRedisCluster;
  let cluster: LocalCluster;
  let probe: Cluster;

  beforeAll(async () => {
    redisCluster = await startPrivateRedisCluster(PRIMARIES);
    cluster = await LocalCluster.start({
      redisUrl: redisCluster.url,
      aggregators: 2,
      allowUnsafeNoiseFreeRelease: true,
      env: { aggregator: { AGGREGATOR_LOG_LEVEL: 'debug' } },
    });
    probe = createRedis(redisCluster.url, { name: 'cluster-test-probe' }) as Cluster;
    assert.ok(probe instanceof Cluster, 'a redis+cluster:// URL gives a Cluster connection');
  });
  afterAll(async () => {
    probe?.disconnect();
    await cluster?.stop();
    await redisCluster?.stop();
  });

  /** `host:port` of each primary -> the keys under this run's prefix it holds (SCAN sees one node's keys only). */
  async function keysByPrimary(pattern = `${cluster.keyPrefix}:*`): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const node of primaries(probe)) {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      out.set(`${node.options.host}:${node.options.port}`, keys);
    }
    return out;
  }

  /** The primary holding round `roundId`'s keys (its meta exists as soon as it is created). */
  async function primaryOf(roundId: string): Promise<string> {
    const holders = [...(await keysByPrimary(`${new RoundKeys(cluster.keyPrefix, roundId).base}:*`))].filter(([, keys]) => keys.length > 0);
    assert.equal(holders.length, 1, `round ${roundId} keys on ${holders.length} primaries`);
    return holders[0]![0];
  }

  async function submit(roundId: string, tag: string, updates: Float64Array[]): Promise<void> {
    const updateId = (i: number) => `${tag}-u${i}`;
    await submitEach(cluster, roundId, tag, updates, { updateId });
    // A retry: answered from the committed record, its fold re-queued under the same (deduplicated) job id.
    await asClient(cluster, `${tag}-client-0`, (client) => client.submitUpdate(roundId, updates[0]!, { updateId: updateId(0) }));
  }

  const released: { round: Round; primary: string }[] = [];

  it('releases the exact sum of every round, with rounds on every primary', async () => {
    assert.equal(primaries(probe).length, PRIMARIES);
    const coordinator = await cluster.client('coordinator', 'coord');
    try {
      // Round ids are random, so their slots are too: create rounds until every primary holds one.
      const rounds: { round: Round; primary: string }[] = [];
      while (new Set(rounds.map((r) => r.primary)).size < PRIMARIES) {
        assert.ok(rounds.length < MAX_ROUNDS, `${MAX_ROUNDS} rounds did not cover ${PRIMARIES} primaries`);
        const round = await coordinator.createRound({
          vectorLength: LENGTH,
          minClients: CLIENTS,
          maxClients: CLIENTS,
          deadlineUnixMs: inMinutes(10),
          clipNorm: 1,
          noiseMultiplier: 0,
          unsafeDisableNoise: true,
        });
        rounds.push({ round, primary: await primaryOf(round.roundId) });
      }
      console.log(`${rounds.length} rounds: ${rounds.map((r) => `${r.round.roundId}@${r.primary}`).join(', ')}`);
      // Every created round is listed (the index lives in yet another slot).
      const listed = new Set((await coordinator.listRounds(100)).map((r) => r.roundId));
      for (const { round } of rounds) assert.ok(listed.has(round.roundId), `${round.roundId} listed`);

      await Promise.all(
        rounds.map(async ({ round, primary }, r) => {
          // Norms 0.5 to 1.5 against clip norm 1: some updates are clipped.
          const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 10 * r + i + 1, 0.5 + i * 0.5));
          await submit(round.roundId, `r${r}`, updates);
          const ended = await waitForEnd(coordinator, round.roundId, 120_000);
          assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
          assert.equal(ended.committedCount, CLIENTS);
          assert.equal(ended.foldedCount, CLIENTS);
          const result = await coordinator.getResult(round.roundId);
          assert.equal(result.header.contributionCount, CLIENTS);
          assert.equal(result.header.noiseDisabled, true);
          assert.equal(result.sum.length, LENGTH);
          const error = maxAbsDiff(result.sum, clippedSum(updates, 1));
          assert.ok(error < 1e-4, `round ${round.roundId}: max error ${error}`);
          released.push({ round: ended, primary });
        }),
      );
    } finally {
      coordinator.close();
    }
    // Each round's one range (a short vector) was completed by one of the aggregators, with every update in it.
    const completed = ['aggregator-1', 'aggregator-2'].map((name) =>
      cluster
        .logLines(name)
        .filter((l) => l.includes('"range complete"'))
        .map((l) => JSON.parse(l) as { roundId: string; range: number; folded: number }),
    );
    console.log(`ranges completed per aggregator: ${completed.map((c) => c.length).join(', ')}`);
    const byRange = new Map(completed.flat().map((c) => [`${c.roundId}/${c.range}`, c.folded]));
    assert.equal(byRange.size, released.length, 'one range per round, completed');
    assert.ok([...byRange.values()].every((folded) => folded === CLIENTS), 'every range folded every update');
  });

  it('fails a round below min clients on the cluster (close and fail scripts) and refuses late updates', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    try {
      const round = await coordinator.createRound({
        vectorLength: 300,
        minClients: 2,
        maxClients: 5,
        deadlineUnixMs: inMinutes(10),
        clipNorm: 1,
        noiseMultiplier: 0,
        unsafeDisableNoise: true, // it never releases; this keeps the round valid whatever the noise policy
      });
      await submit(round.roundId, 'few', [makeUpdate(300, 1, 1)]);
      await coordinator.closeRound(round.roundId);
      const ended = await waitForEnd(coordinator, round.roundId);
      assert.equal(ended.state, RoundState.FAILED);
      assert.match(ended.failureReason, /only 1 of the required 2/);
      const late = await cluster.client('client', 'few-late');
      await assert.rejects(late.submitUpdate(round.roundId, makeUpdate(300, 2, 1)), (e: SecaggError) => e.code === Code.FailedPrecondition);
      late.close();
    } finally {
      coordinator.close();
    }
  });

  it('keeps each round, and each queue, in one slot: the cluster agrees', async () => {
    assert.ok(released.length >= PRIMARIES, 'the rounds of the first test ran');
    const byPrimary = await keysByPrimary();
    // Group every key of this run by the tag it hashes by; each group must live on one primary, in one slot.
    const groups = new Map<string, { primaries: Set<string>; keys: string[] }>();
    for (const [primary, keys] of byPrimary) {
      for (const key of keys) {
        const tag = hashTagOf(key);
        const group = groups.get(tag) ?? { primaries: new Set(), keys: [] };
        group.primaries.add(primary);
        group.keys.push(key);
        groups.set(tag, group);
      }
    }
    const node = primaries(probe)[0]!;
    for (const [tag, group] of groups) {
      assert.equal(group.primaries.size, 1, `keys tagged ${tag} on ${[...group.primaries].join(', ')}`);
      const slots = new Set(await Promise.all(group.keys.map((key) => node.cluster('KEYSLOT', key))));
      assert.equal(slots.size, 1, `keys tagged ${tag} hash to slots ${[...slots].join(', ')}`);
    }
    // Every released round: its surviving keys (meta, key, clients, updates' records, result) are one group on its primary.
    for (const { round, primary } of released) {
      const group = groups.get(round.roundId);
      assert.ok(group, `keys of ${round.roundId}`);
      assert.deepEqual([...group.primaries], [primary]);
      const k = new RoundKeys(cluster.keyPrefix, round.roundId);
      for (const [part, key] of Object.entries({ meta: k.meta, pk: k.publicKey, clients: k.clients, 'result header': k.resultHeader, 'result object': k.resultObject })) {
        assert.ok(group.keys.includes(key), `${round.roundId} has its ${part}`);
      }
    }
    const roundPrimaries = new Set(released.map((r) => r.primary));
    assert.equal(roundPrimaries.size, PRIMARIES, 'round keys spread over every primary');
    // The queue (folds are not jobs: range workers read the commit log) is one group under the tagged prefix.
    const queueTag = hashTagOf(`${queuePrefix(cluster.keyPrefix)}:x`);
    const queueKeys = groups.get(queueTag)?.keys ?? [];
    assert.ok(queueKeys.some((k) => k.includes(':round-lifecycle:')), 'round-lifecycle queue keys under the tagged prefix');
    console.log(
      [...byPrimary].map(([p, keys]) => `${p}: ${keys.length} keys, tags ${[...new Set(keys.map(hashTagOf))].join(' ')}`).join('\n'),
    );
  });

  it("stopping the local cluster deletes the run's keys from every primary", async () => {
    const before = [...(await keysByPrimary()).values()].flat().length;
    assert.ok(before > 0);
    await cluster.stop(); // SCANs each primary (SCAN sees one node's keys only); stop() is idempotent for after()
    assert.deepEqual([...(await keysByPrimary()).values()].flat(), []);
  });
});
