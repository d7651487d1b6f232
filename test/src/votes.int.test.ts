/**
 * Vote rounds (issue 14) across real processes: gateway, aggregator and
 * keyholder, real Redis, real node-seal, TLS. Teachers submit their votes
 * with the SDK's submitVotes (and one with the `secagg votes submit` CLI);
 * - the test-only noise-free histogram is the exact sum of the votes;
 * - Confident-GNMax with noise answers the queries the teachers agree on,
 *   with their label, and abstains on the split ones;
 * - a vote round that would exceed its group's budget is refused, and its
 *   release too, with nothing released;
 * - a vote that breaks the round's shape is refused by the SDK before
 *   anything is sent, and the coordinator's bad vote config by the gateway.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, SecaggError } from '@secagg/core';
import { RoundKind, RoundState, VoteMechanism, VoteShape } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { readVector, releasedLabels, type SecaggClient } from '@secagg/sdk';
import { inMinutes, SECAGG_CLI, waitForEnd } from './helpers.js';

const QUERIES = 5;
const CLASSES = 3;
const TRANSFER_SHA = createHash('sha256').update('votes.int.test transfer set').digest();

/** Teacher t's label on query q: queries 0-2 unanimous (labels 2, 0, 1), queries 3-4 split over the classes by teacher. */
function labelOf(teacher: number, query: number): number {
  return query < 3 ? [2, 0, 1][query]! : (teacher + query) % CLASSES;
}

const voteRound = (privacyGroup: string, votes: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  kind: RoundKind.VOTES,
  vectorLength: QUERIES * CLASSES,
  minClients: 3,
  maxClients: 12,
  deadlineUnixMs: inMinutes(10),
  privacyGroup,
  votes: { queries: QUERIES, classes: CLASSES, shape: VoteShape.ONE_HOT, transferSetId: 'votes-int/v1', transferSetSha256: TRANSFER_SHA, ...votes },
  ...extra,
});

describe('vote rounds through the cluster', () => {
  let cluster: LocalCluster;
  let coordinator: SecaggClient;
  let dir: string;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1, allowUnsafeNoiseFreeRelease: true });
    coordinator = await cluster.client('coordinator', 'votes-coordinator');
    dir = mkdtempSync(join(tmpdir(), 'votes-int-'));
  });
  afterAll(async () => {
    coordinator?.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The `secagg` CLI as a process, with a coordinator token. */
  async function secagg(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const run = spawnSync(process.execPath, [SECAGG_CLI, ...args], {
      env: {
        PATH: process.env.PATH ?? '',
        SECAGG_GATEWAY: cluster.gatewayAddress,
        SECAGG_TOKEN: await cluster.token('coordinator', 'votes-coordinator'),
        SECAGG_CA_FILE: cluster.certificates!.caFile,
      },
      encoding: 'utf8',
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  async function teachersVote(roundId: string, tag: string, teachers: number): Promise<void> {
    for (let t = 0; t < teachers; t++) {
      const client = await cluster.client('client', `${tag}-teacher-${t}`, { encryptionThreads: 0 });
      try {
        const labels = Array.from({ length: QUERIES }, (_, q) => labelOf(t, q));
        await client.submitVotes(roundId, labels, { updateId: `${tag}-t${t}`, transferSetSha256: TRANSFER_SHA });
      } finally {
        client.close();
      }
    }
  }

  it('noise-free (test-only): the released histogram is the exact sum of the votes; one teacher votes with the CLI', async () => {
    const { round } = await coordinator.createRoundWithPrivacy(voteRound('votes-nf', { mechanism: VoteMechanism.NOISY_HISTOGRAM }, { unsafeDisableNoise: true }));
    assert.equal(round.config!.kind, RoundKind.VOTES);
    await teachersVote(round.roundId, 'nf', 5);
    // The sixth teacher: a .npy of int64 labels through `secagg votes submit`.
    const file = join(dir, 'votes.npy');
    const labels = BigInt64Array.from(Array.from({ length: QUERIES }, (_, q) => BigInt(labelOf(5, q))));
    const header = `{'descr': '<i8', 'fortran_order': False, 'shape': (${QUERIES},), }`.padEnd(117, ' ') + '\n';
    writeFileSync(file, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]), Buffer.from(header, 'latin1'), Buffer.from(labels.buffer)]));
    const cli = spawnSync(
      process.execPath,
      [SECAGG_CLI, 'votes', 'submit', '--round', round.roundId, '--file', file, '--transfer-set-sha256', TRANSFER_SHA.toString('hex'), '--json'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          SECAGG_GATEWAY: cluster.gatewayAddress,
          SECAGG_TOKEN: await cluster.token('client', 'nf-teacher-cli'),
          SECAGG_CA_FILE: cluster.certificates!.caFile,
          SECAGG_KEYHOLDER_KEYS: cluster.keyholderVerificationKeyPem,
        },
        encoding: 'utf8',
      },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).round_id, round.roundId);

    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.equal(result.header.contributionCount, 6);
    assert.equal(result.header.votes!.mechanism, VoteMechanism.NOISY_HISTOGRAM);
    for (let q = 0; q < QUERIES; q++) {
      for (let c = 0; c < CLASSES; c++) {
        const expected = Array.from({ length: 6 }, (_, t) => labelOf(t, q)).filter((l) => l === c).length;
        const got = result.sum[q * CLASSES + c]!;
        assert.ok(Math.abs(got - expected) < 1e-6, `query ${q} class ${c}: ${got} vs ${expected}`);
      }
    }
  });

  it('Confident-GNMax with noise: labels where the 30 teachers agree, abstains where they split', async () => {
    // Top counts: 30 (unanimous) vs 10 (split three ways); T = 20 sits 10 votes = 5 sigma1 from each (each query
    // misjudged with probability < 3e-7); the answered queries lead by 30 votes, 10 sigma2 on the difference of two
    // counts. sigma1 = sigma2 = 2 on 5 queries keeps the round within the default budget of 10.
    const { round, privacy } = await coordinator.createRoundWithPrivacy(
      voteRound('votes-conf', { mechanism: VoteMechanism.CONFIDENT_GNMAX, sigma1: 2, sigma2: 2, threshold: 20 }, { maxClients: 30 }),
    );
    assert.ok(Number.isFinite(privacy.roundEpsilon) && privacy.roundEpsilon > 0);
    await teachersVote(round.roundId, 'conf', 30);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.deepEqual([...releasedLabels(result.header, result.sum)], [2, 0, 1, -1, -1]);
    // The same labels through `secagg result --labels`.
    const out = join(dir, 'labels.npy');
    const cli = await secagg(['result', '--round', round.roundId, '--out', out, '--labels', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout), { round_id: round.roundId, out, wrote: 'labels', queries: 5, answered: 3, abstained: 2, epsilon: privacy.roundEpsilon, delta: 1e-5 });
    assert.deepEqual([...readVector(out).values], [2, 0, 1, -1, -1]);
    assert.deepEqual([result.header.votes!.answeredCount, result.header.votes!.abstainedCount], [3, 2]);
    assert.equal(result.header.epsilonSpent, privacy.roundEpsilon);
    const budget = await coordinator.getPrivacyBudget('votes-conf');
    assert.deepEqual(budget.releases.map((r) => r.roundId), [round.roundId]);
  });

  it('refuses a vote round its group cannot afford, and the release of one that no longer fits', async () => {
    const group = 'votes-budget';
    const votes = { mechanism: VoteMechanism.GNMAX, sigma2: 3 };
    const a = await coordinator.createRoundWithPrivacy(voteRound(group, votes));
    const b = await coordinator.createRoundWithPrivacy(voteRound(group, votes));
    await coordinator.setPrivacyBudget(group, 1.2 * a.privacy.roundEpsilon);
    await teachersVote(a.round.roundId, 'budget-a', 3);
    await coordinator.closeRound(a.round.roundId);
    assert.equal((await waitForEnd(coordinator, a.round.roundId)).state, RoundState.RELEASED);

    await teachersVote(b.round.roundId, 'budget-b', 3);
    await coordinator.closeRound(b.round.roundId);
    const failed = await waitForEnd(coordinator, b.round.roundId);
    assert.equal(failed.state, RoundState.FAILED);
    assert.match(failed.failureReason, /privacy budget of group "votes-budget" exhausted/);
    await assert.rejects(coordinator.getResult(b.round.roundId), (e: SecaggError) => e.code === Code.FailedPrecondition);
    await assert.rejects(coordinator.createRound(voteRound(group, votes)), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.match(e.message, /privacy budget of group "votes-budget" exhausted/);
      return true;
    });
  });

  it('secagg round create --kind votes opens a vote round with the signed vote parameters', async () => {
    const created = await secagg([
      'round', 'create', '--kind', 'votes', '--queries', '5', '--classes', '3', '--min-clients', '3', '--max-clients', '12', '--deadline', '10m',
      '--mechanism', 'confident-gnmax', '--sigma1', '4', '--sigma2', '3', '--threshold', '6', '--privacy-group', 'votes-cli',
      '--transfer-set', 'votes-int/v1', '--transfer-set-sha256', TRANSFER_SHA.toString('hex'), '--json',
    ]);
    assert.equal(created.status, 0, created.stderr);
    const roundId = JSON.parse(created.stdout).round_id as string;
    const round = await coordinator.getRoundStatus(roundId);
    assert.equal(round.config!.kind, RoundKind.VOTES);
    assert.equal(round.config!.vectorLength, 15);
    const v = round.config!.votes!;
    assert.deepEqual([v.queries, v.classes, v.shape, v.mechanism, v.sigma1, v.sigma2, v.threshold, v.transferSetId], [5, 3, VoteShape.ONE_HOT, VoteMechanism.CONFIDENT_GNMAX, 4, 3, 6, 'votes-int/v1']);
    const refused = await secagg(['round', 'create', '--kind', 'votes', '--length', '15', '--queries', '5', '--classes', '3', '--min-clients', '3', '--max-clients', '12', '--deadline', '10m', '--mechanism', 'gnmax', '--sigma2', '3', '--transfer-set', 'x/v1', '--transfer-set-sha256', TRANSFER_SHA.toString('hex')]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /a vote round takes --queries and --classes/);
  });

  it('refuses bad votes in the SDK (nothing sent) and a bad vote config at the gateway', async () => {
    const { round } = await coordinator.createRoundWithPrivacy(voteRound('votes-bad', { mechanism: VoteMechanism.GNMAX, sigma2: 3 }));
    const client = await cluster.client('client', 'bad-teacher', { encryptionThreads: 0 });
    try {
      await assert.rejects(client.submitVotes(round.roundId, [0, 1, 2, 3, 0]), /query 3: label 3 is not a class in \[0, 3\)/);
      await assert.rejects(client.submitVotes(round.roundId, [0, 1, 2, 0, 0], { transferSetSha256: new Uint8Array(32) }), /votes on transfer set votes-int\/v1 with SHA-256/);
      await assert.rejects(client.submitUpdate(round.roundId, new Float64Array(QUERIES * CLASSES)), /is a vote round: submit votes with submitVotes/);
    } finally {
      client.close();
    }
    assert.equal((await coordinator.getRoundStatus(round.roundId)).committedCount, 0);
    await assert.rejects(coordinator.createRound(voteRound('votes-bad', { mechanism: VoteMechanism.GNMAX, sigma2: 3 }, { vectorLength: 14 })), (e: SecaggError) => {
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /config\.vector_length must equal votes\.queries \* votes\.classes = 15/);
      return true;
    });
  });
});
