/**
 * The keyholder's privacy engine across real processes (gateway, aggregators,
 * keyholder; real Redis, real node-seal, TLS): flooding refusal, round cost,
 * budget exhaustion (release refused, nothing released; next round refused),
 * a second release refused, forged aggregates refused (and charged) without release,
 * Poisson sampling at the gateway, the `secagg privacy budget` CLI, and a
 * crash between charging and decrypting (test-only fault injection) that
 * leaves the ledger charged across a keyholder restart and resumes to one release.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, createClient, SecaggError } from '@secagg/core';
import { addCiphertextInto, CkksEngine, encryptVector, valuesPerCiphertext, maxRepresentable } from '@secagg/ckks';
import { contributorsDigest, toCkksParams } from '@secagg/protocol';
import { KeyholderService, ReleaseRoundRequestSchema, RoundState, type ReleaseRoundRequest } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import type { SecaggClient } from '@secagg/sdk';
import { inMinutes, makeUpdate, SECAGG_CLI, submitEach, waitForEnd } from './helpers.js';

const LENGTH = 5_000;

/** A round that passes the default 40-bit flooding minimum on the default preset: 2 clients, z = 4. */
const passing = (privacyGroup: string, extra: Record<string, unknown> = {}) => ({
  vectorLength: LENGTH,
  minClients: 2,
  maxClients: 2,
  deadlineUnixMs: inMinutes(10),
  clipNorm: 1,
  noiseMultiplier: 4,
  privacyGroup,
  ...extra,
});

async function submitAll(cluster: LocalCluster, roundId: string, tag: string, count: number): Promise<{ clientId: string; updateId: string }[]> {
  const updates = Array.from({ length: count }, (_, i) => makeUpdate(LENGTH, i + 1, 0.9));
  const results = await submitEach(cluster, roundId, tag, updates, { updateId: (i) => `${tag}-u${i}` });
  return results.map(({ updateId }, i) => ({ clientId: `${tag}-client-${i}`, updateId }));
}

function releaseFrames(roundId: string, count: number, digest: Uint8Array, ciphertexts: Uint8Array[]): ReleaseRoundRequest[] {
  return [
    create(ReleaseRoundRequestSchema, {
      frame: { case: 'header', value: { roundId, contributionCount: count, contributorsSha256: digest, ciphertextCount: ciphertexts.length } },
    }),
    ...ciphertexts.map((ciphertext, index) => create(ReleaseRoundRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } })),
  ];
}

/** Runs the `secagg` CLI as a process against the cluster with a token of the coordinator that owns the groups read. */
async function cli(cluster: LocalCluster, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const result = spawnSync(process.execPath, [SECAGG_CLI, ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      SECAGG_GATEWAY: cluster.gatewayAddress,
      SECAGG_TOKEN: await cluster.token('coordinator', 'privacy-coordinator'),
      SECAGG_CA_FILE: cluster.certificates!.caFile,
    },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('privacy engine: budgets, flooding, safe release', () => {
  let cluster: LocalCluster;
  let coordinator: SecaggClient;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1 });
    coordinator = await cluster.client('coordinator', 'privacy-coordinator');
  });
  afterAll(async () => {
    coordinator?.close();
    await cluster?.stop();
  });

  function keyholderAsAggregator() {
    return createClient(KeyholderService, cluster.keyholderAddress, { credentials: cluster.channelCredentials('aggregator') });
  }

  it('refuses to create a round whose flooding margin is too small, and creates nothing', async () => {
    const before = (await coordinator.listRounds(1_000)).length;
    await assert.rejects(
      coordinator.createRound({ ...passing('flood'), maxClients: 1_000, noiseMultiplier: 1 }),
      (e: SecaggError) => {
        assert.equal(e.code, Code.FailedPrecondition);
        assert.match(e.message, /flooding margin (\d+\.\d) bits is below the keyholder's minimum 40/);
        assert.match(e.message, /raise the noise multiplier/);
        return true;
      },
    );
    assert.equal((await coordinator.listRounds(1_000)).length, before);
  });

  it('states the cost of a round; an exhausted budget refuses the next release (nothing released) and the next round', async () => {
    const group = 'exhaust';
    const a = await coordinator.createRoundWithPrivacy(passing(group));
    const b = await coordinator.createRoundWithPrivacy(passing(group));
    const one = a.privacy.roundEpsilon;
    assert.ok(one > 0 && Number.isFinite(one));
    assert.equal(a.privacy.groupEpsilonAfter, one);
    assert.ok(a.privacy.floodingMarginBits >= 40, `margin ${a.privacy.floodingMarginBits}`);
    // Room for exactly one release: two compose to at least sqrt(2) times one.
    const set = await coordinator.setPrivacyBudget(group, 1.2 * one);
    assert.equal(set.epsilonBudget, 1.2 * one);
    assert.equal(set.explicitlySet, true);

    await submitAll(cluster, a.round.roundId, 'exhaust-a', 2);
    const releasedA = await waitForEnd(coordinator, a.round.roundId);
    assert.equal(releasedA.state, RoundState.RELEASED, releasedA.failureReason);
    const resultA = await coordinator.getResult(a.round.roundId);
    assert.equal(resultA.header.epsilonSpent, one);

    await submitAll(cluster, b.round.roundId, 'exhaust-b', 2);
    const failedB = await waitForEnd(coordinator, b.round.roundId);
    assert.equal(failedB.state, RoundState.FAILED);
    assert.match(failedB.failureReason, /privacy budget of group "exhaust" exhausted/);
    await assert.rejects(coordinator.getResult(b.round.roundId), (e: SecaggError) => e.code === Code.FailedPrecondition);

    const budget = await coordinator.getPrivacyBudget(group);
    assert.deepEqual(budget.releases.map((r) => r.roundId), [a.round.roundId]);
    assert.equal(budget.epsilonSpent, one);

    await assert.rejects(coordinator.createRound(passing(group)), (e: SecaggError) => {
      assert.equal(e.code, Code.FailedPrecondition);
      assert.match(e.message, /privacy budget of group "exhaust" exhausted/);
      return true;
    });

    // The CLI shows the same, as JSON on stdout and nothing else.
    const shown = await cli(cluster, ['privacy', 'budget', '--group', group, '--json']);
    assert.equal(shown.status, 0, shown.stderr);
    const json = JSON.parse(shown.stdout) as { epsilon_spent: number; epsilon_remaining: number; delta: number; releases: { round_id: string; epsilon: number; charged: string }[] };
    assert.equal(json.epsilon_spent, one);
    assert.ok(Math.abs(json.epsilon_remaining - 0.2 * one) < 1e-9);
    assert.equal(json.delta, 1e-5);
    assert.deepEqual(json.releases.map((r) => r.round_id), [a.round.roundId]);
    assert.ok(!Number.isNaN(Date.parse(json.releases[0]!.charged)));
    const text = await cli(cluster, ['privacy', 'budget', '--group', group]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /privacy group "exhaust": spent epsilon [\d.]+ of [\d.]+ at delta 0\.00001 .*1 release/);
    assert.match(text.stdout, new RegExp(a.round.roundId));
  });

  it('refuses a second release of a released round; a repeat with the same contributors gets the stored one, uncharged', async () => {
    const group = 'second';
    const { round } = await coordinator.createRoundWithPrivacy(passing(group));
    const contributors = await submitAll(cluster, round.roundId, 'second', 2);
    assert.equal((await waitForEnd(coordinator, round.roundId)).state, RoundState.RELEASED);
    const first = await coordinator.getResult(round.roundId);

    const keyholder = keyholderAsAggregator();
    try {
      const other = contributorsDigest([{ clientId: 'someone', updateId: 'else' }]);
      await assert.rejects(
        (async () => {
          for await (const _ of keyholder.releaseRound(releaseFrames(round.roundId, 2, other, []))) void _;
        })(),
        (e: SecaggError) => e.code === Code.FailedPrecondition && /already released with other contributors/.test(e.message),
      );
      let repeated: number | undefined;
      for await (const response of keyholder.releaseRound(releaseFrames(round.roundId, 2, contributorsDigest(contributors), []))) {
        if (response.frame.case === 'header') repeated = response.frame.value.epsilonSpent;
      }
      assert.equal(repeated, first.header.epsilonSpent);
    } finally {
      keyholder.close();
    }
    assert.equal((await coordinator.getPrivacyBudget(group)).releases.length, 1);
  });

  it('refuses forged aggregates (out of range, garbage) from an aggregator identity: nothing released, each decryption charged', async () => {
    const group = 'forged';
    const client = await cluster.client('client', 'forger');
    const keyholder = keyholderAsAggregator();
    try {
      const forgeries: [string, (engine: CkksEngine, publicKey: Uint8Array, params: ReturnType<typeof toCkksParams>) => Uint8Array[]][] = [
        [
          'an encryption of values far beyond count x C',
          (engine, publicKey, params) => {
            using encryptor = engine.createEncryptor(publicKey);
            // One ciphertext holds at most maxRepresentable per value; an aggregator can add
            // two of them to claim a sum of ~2 x that, beyond count x C = 2 but far from wrapping.
            const forged = new Float64Array(LENGTH).fill(0.999 * maxRepresentable(params, 1));
            const sum = [...encryptVector(encryptor, params, forged)];
            const again = [...encryptVector(encryptor, params, forged)];
            sum.forEach((ct, i) => addCiphertextInto(engine.format, ct, again[i]!));
            return sum;
          },
        ],
        [
          'well-formed garbage',
          (engine, publicKey, params) => {
            using encryptor = engine.createEncryptor(publicKey);
            const cts = [...encryptVector(encryptor, params, new Float64Array(LENGTH))];
            for (const ct of cts) {
              const view = new DataView(ct.buffer, ct.byteOffset, ct.byteLength);
              const n = valuesPerCiphertext(params); // coefficient encoding: N values per ciphertext
              for (let i = 0; i < n; i++) view.setBigUint64(113 + 8 * i, randomBytes(8).readBigUInt64LE() >> 12n, true); // c0 := random < 2^52 < q
            }
            return cts;
          },
        ],
      ];
      for (const [what, forge] of forgeries) {
        // max_clients 8: the modulus leaves room for sums well beyond the claimed count x C = 2.
        const round = await coordinator.createRound(passing(group, { maxClients: 8 }));
        const { publicKey } = await client.getRound(round.roundId);
        const params = toCkksParams(round.ckks!);
        using engine = await CkksEngine.create(params);
        const ciphertexts = forge(engine, publicKey, params);
        const digest = contributorsDigest([{ clientId: 'x', updateId: 'y' }, { clientId: 'z', updateId: 'w' }]);
        await assert.rejects(
          (async () => {
            for await (const _ of keyholder.releaseRound(releaseFrames(round.roundId, 2, digest, ciphertexts))) void _;
          })(),
          (e: SecaggError) => {
            assert.equal(e.code, Code.FailedPrecondition, what);
            assert.match(e.message, /^the noised sum is outside what a sum of the contributing updates/, what);
            assert.doesNotMatch(e.message, /\d/, `${what}: no number from the data`);
            return true;
          },
        );
        // The key is gone: a retry gets the same refusal, with no second decryption.
        await assert.rejects(
          (async () => {
            for await (const _ of keyholder.releaseRound(releaseFrames(round.roundId, 2, digest, ciphertexts))) void _;
          })(),
          (e: SecaggError) => e.code === Code.FailedPrecondition && /^the noised sum is outside/.test(e.message),
        );
      }
      assert.equal((await coordinator.getPrivacyBudget(group)).releases.length, forgeries.length, 'each decryption charged once');
    } finally {
      keyholder.close();
      client.close();
    }
  });

  it('samples clients at the gateway: each decision is final, and the release is accounted at the sampling rate', async () => {
    // 20 clients at q = 0.5: all-in or all-out has probability 2^-19. z = 64 keeps 20 max clients above 40 bits.
    const q = 0.5;
    const { round, privacy } = await coordinator.createRoundWithPrivacy({ ...passing('sampled'), minClients: 1, maxClients: 20, noiseMultiplier: 64, samplingRate: q, vectorLength: 100 });
    assert.equal(privacy.samplingRate, q);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const client = await cluster.client('client', `sampled-${i}`);
        try {
          const values = makeUpdate(100, i + 1, 0.5);
          const first = await client.submitUpdate(round.roundId, values, { updateId: `s${i}` }).then(() => 'admitted', (e: SecaggError) => e);
          const retry = await client.submitUpdate(round.roundId, values, { updateId: `s${i}` }).then(() => 'admitted', (e: SecaggError) => e);
          return { first, retry };
        } finally {
          client.close();
        }
      }),
    );
    const admitted = outcomes.filter((o) => o.first === 'admitted').length;
    for (const { first, retry } of outcomes) {
      if (first === 'admitted') assert.equal(retry, 'admitted');
      else {
        for (const e of [first, retry] as SecaggError[]) {
          assert.equal(e.code, Code.FailedPrecondition);
          assert.match(e.message, /was not sampled for round .* \(Poisson sampling at rate 0\.5\)/);
        }
      }
    }
    assert.ok(admitted > 0 && admitted < 20, `${admitted} of 20 admitted`);
    assert.equal((await coordinator.getRoundStatus(round.roundId)).committedCount, admitted);
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const charge = (await coordinator.getPrivacyBudget('sampled')).releases[0]!;
    assert.equal(charge.samplingRate, q);
    assert.equal(charge.epsilon, privacy.roundEpsilon);
  });
});

describe('a crash between charging the ledger and decrypting', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 1,
      // TEST-ONLY fault injection; the keyholder refuses it without the test-only unsafe flag.
      allowUnsafeNoiseFreeRelease: true,
      env: { keyholder: { KEYHOLDER_TEST_CRASH_AFTER_CHARGE: 'true' } },
    });
  });
  afterAll(async () => cluster?.stop());

  it('leaves the ledger charged; the restarted keyholder resumes the same release, charged once, and the round releases', async () => {
    const coordinator = await cluster.client('coordinator', 'crash-coordinator');
    try {
      const { round, privacy } = await coordinator.createRoundWithPrivacy(passing('crash'));
      await submitAll(cluster, round.roundId, 'crash', 2);
      const deadline = Date.now() + 120_000;
      while (cluster.isRunning('keyholder')) {
        if (Date.now() > deadline) throw new Error('the keyholder did not crash after the charge');
        await new Promise((r) => setTimeout(r, 100));
      }
      // The process's exit can be seen before its last output line is read: give the pipe a moment.
      const crashedAtFaultPoint = () => cluster.logLines('keyholder').some((l) => l.includes('crashing after the ledger charge'));
      for (let waited = 0; !crashedAtFaultPoint() && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      assert.ok(crashedAtFaultPoint(), 'crashed at the fault point');
      assert.notEqual((await coordinator.getRoundStatus(round.roundId)).state, RoundState.RELEASED, 'nothing was returned before the crash');

      await cluster.restart('keyholder');
      const budget = await coordinator.getPrivacyBudget('crash');
      assert.deepEqual(budget.releases.map((r) => r.roundId), [round.roundId], 'the charge survived the crash and the restart');
      assert.equal(budget.epsilonSpent, privacy.roundEpsilon);

      // The aggregator's retry resumes the charged release: the round is not wasted, and not charged twice.
      const ended = await waitForEnd(coordinator, round.roundId, 120_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      assert.equal((await coordinator.getResult(round.roundId)).header.epsilonSpent, privacy.roundEpsilon);
      assert.equal((await coordinator.getPrivacyBudget('crash')).releases.length, 1);
    } finally {
      coordinator.close();
    }
  });
});
