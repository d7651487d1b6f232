/**
 * The refused release is not an oracle (issue 10, critical), across real
 * processes. A malicious client with nothing but its own client token
 * uploads an unclipped update V = W ± a·e_i (W a fixed large vector that
 * makes the round refused) beside an honest client's fixed update h. Before
 * the fix the keyholder range-checked the NOISE-FREE sum and the refusal text
 * became the round's failure_reason ("its L2 norm 3.75226 exceeds ..."),
 * readable by every client: from ‖h + W + a·e_i‖ and ‖h + W − a·e_i‖ the
 * attacker solves h_i = (n₊² − n₋²)/(4a) − W_i exactly, and the ledger
 * showed nothing spent. Now the check runs on the noised sum, a refusal carries one
 * fixed text, and every decryption is charged.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createClient, Code, type SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector, maxRepresentable } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { ClientService, RoundState } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import type { SecaggClient } from '@secagg/sdk';
import { inMinutes, uploadFrames, waitForEnd } from './helpers.js';

const LENGTH = 400;
const SIGMA = 1; // z = 1, C = 1
/** The attacker's fixed part: ‖W‖ = 34, far beyond count·C = 2 plus what the noise can explain (~26 here). */
const W = 1.7;
/** The attacker's probe on coordinate i (W + a stays within what the coefficient codec encodes). */
const A = 0.1;
const GROUP = 'oracle';

/** The honest client's update: fixed, L2 norm 0.9 (within C = 1, so the SDK does not scale it). */
function honestUpdate(): Float64Array {
  const h = Float64Array.from({ length: LENGTH }, (_, i) => Math.sin(i + 1));
  const norm = Math.hypot(...h);
  return h.map((v) => (0.9 * v) / norm);
}

/** Every number in a text (what an attacker would parse out of a failure reason). */
const numbersIn = (text: string): number[] => [...text.matchAll(/-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi)].map((m) => Number(m[0]));

/** The attack's estimator: h_i from the L2 norms of h + W + a·e_i and h + W − a·e_i. */
const estimate = (plus: number, minus: number): number => (plus * plus - minus * minus) / (4 * A) - W;

describe('a refused release is no oracle: fixed reason, decided on noised data, every decryption charged', () => {
  let cluster: LocalCluster;
  let coordinator: SecaggClient;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1 });
    coordinator = await cluster.client('coordinator', 'oracle-coordinator');
  });
  afterAll(async () => {
    coordinator?.close();
    await cluster?.stop();
  });

  it('an attacker with one client token learns no norm from refusals, and the ledger charges each decryption', async () => {
    const h = honestUpdate();
    const honest = await cluster.client('client', 'honest');
    const attacker = await cluster.client('client', 'attacker');
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', 'attacker')}`);
    try {
      const reasons = new Map<string, string>(); // `${i}${sign}` -> what the attacker read
      for (const i of [0, 1]) {
        for (const sign of [+1, -1]) {
          const round = await coordinator.createRound({
            vectorLength: LENGTH,
            minClients: 2,
            maxClients: 2,
            deadlineUnixMs: inMinutes(10),
            clipNorm: 1,
            noiseMultiplier: SIGMA,
            privacyGroup: `${GROUP}-${i}${sign > 0 ? 'p' : 'm'}`, // z = 1 costs 4.7 per release: a group each
          });
          await honest.submitUpdate(round.roundId, h, { updateId: `h-${i}-${sign}` });

          // The attacker encrypts V = W + sign·a·e_i itself, skipping the SDK's clipping.
          const { publicKey } = await attacker.getRound(round.roundId);
          const params = toCkksParams(round.ckks!);
          assert.ok(W + A <= maxRepresentable(params, 1), 'the attack encodes');
          const v = new Float64Array(LENGTH).fill(W);
          v[i] = W + sign * A;
          using engine = await CkksEngine.create(params);
          using encryptor = engine.createEncryptor(publicKey);
          await raw.submitUpdate(uploadFrames(round.roundId, `v-${i}-${sign}`, LENGTH, [...encryptVector(encryptor, params, v)]), { metadata });

          await coordinator.closeRound(round.roundId);
          const ended = await waitForEnd(coordinator, round.roundId, 120_000);
          assert.equal(ended.state, RoundState.FAILED);
          // What the attacker can read: the round, and GetResult's answer.
          const seen = (await attacker.getRound(round.roundId)).round!;
          const result = await attacker.getResult(round.roundId).then(
            () => 'released',
            (e: SecaggError) => `${e.code}: ${e.message}`,
          );
          // The round id is no secret (and has digits): mask it, keep the rest verbatim.
          reasons.set(`${i}${sign > 0 ? '+' : '-'}`, `${seen.failureReason}\n${result}`.replaceAll(round.roundId, 'ROUND'));
          assert.match(result, new RegExp(`^${Code.FailedPrecondition}: `));
        }
      }

      // Control: given the noise-free norms the old refusal texts carried, the estimator recovers h exactly.
      const norm = (i: number, sign: number) => Math.hypot(...h.map((x, j) => x + W + (j === i ? sign * A : 0)));
      for (const i of [0, 1]) assert.ok(Math.abs(estimate(norm(i, +1), norm(i, -1)) - h[i]!) < 1e-9, 'the estimator works on noise-free norms');

      // What the attacker actually read: one fixed text, no number at all, the same for every round.
      const texts = new Set(reasons.values());
      assert.equal(texts.size, 1, [...texts].join('\n---\n'));
      const [text] = texts;
      assert.match(text!, /noised sum is outside what a sum of the contributing updates/);
      assert.deepEqual(numbersIn(text!.replace(/^\d+: /m, '')), [], `numbers in the refusal: ${text}`);

      // Every decryption is charged: each refused round has its ledger entry, and epsilon is spent.
      for (const group of ['0p', '0m', '1p', '1m'].map((tag) => `${GROUP}-${tag}`)) {
        const budget = await coordinator.getPrivacyBudget(group);
        assert.equal(budget.releases.length, 1, group);
        assert.ok(budget.epsilonSpent > 0, group);
      }
      assert.ok(cluster.logLines('keyholder').every((line) => !/L2 norm|values exceed/.test(line)), 'no norm or count in the keyholder logs');
    } finally {
      raw.close();
      honest.close();
      attacker.close();
    }
  });
});
