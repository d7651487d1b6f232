/**
 * Signed round parameters (issue 10, "clients encrypt under whatever key the
 * gateway serves"), through the real cluster: the keyholder signs each round's
 * statement, the gateway serves it, and the SDK refuses any round whose key or
 * parameters were changed behind the keyholder's back - here by writing the
 * round store directly, as the gateway's Redis user (or a compromised gateway)
 * can - before it encrypts anything. Nothing is uploaded: no commit, no staged
 * ciphertext. Honest rounds keep releasing, and the signing key can rotate.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { CkksEngine } from '@secagg/ckks';
import { isSecaggError } from '@secagg/core';
import { RoundAttestationSchema, RoundConfigSchema, RoundState, RoundStatementSchema, type RoundConfig } from '@secagg/proto';
import { RoundSigner, roundStatementBytes, RoundVerificationError, toCkksParams } from '@secagg/protocol';
import { LocalCluster } from '@secagg/local-cluster';
import { RoundKeys } from '@secagg/store';
import type { SecaggClient } from '@secagg/sdk';
import { asClient, clippedSum, inMinutes, makeUpdate, maxAbsDiff, waitForEnd } from './helpers.js';

const LENGTH = 5_000;

const refused = (reason: RoundVerificationError['reason'], pattern?: RegExp) => (error: unknown) => {
  assert.ok(error instanceof RoundVerificationError, `expected a RoundVerificationError, got ${String(error)}`);
  assert.equal(error.reason, reason, error.message);
  if (pattern) assert.match(error.message, pattern);
  return true;
};

describe('signed round parameters: the SDK encrypts only what the keyholder signed', () => {
  let cluster: LocalCluster;
  let redis: Redis;
  let coordinator: SecaggClient;
  let groups = 0;

  const openRound = async () =>
    coordinator.createRound({
      vectorLength: LENGTH,
      minClients: 2,
      maxClients: 2,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      // z = 2 keeps the flooding margin above the 40-bit minimum (docs/PRIVACY.md).
      noiseMultiplier: 2,
      privacyGroup: `attestation-${++groups}`,
    });
  const keysOf = (roundId: string) => new RoundKeys(cluster.keyPrefix, roundId);

  /** What the SDK refused must have left no trace: nothing committed, nothing staged, no client recorded. */
  async function assertNothingUploaded(roundId: string): Promise<void> {
    const k = keysOf(roundId);
    assert.equal((await coordinator.getRoundStatus(roundId)).committedCount, 0, 'nothing committed');
    assert.deepEqual(await redis.keys(`${k.base}:s:*`), [], 'no staged ciphertext');
    assert.equal(await redis.hlen(k.clients), 0, 'no client recorded');
  }

  /** Rewrites the round's stored config, as a writer of the round store could. */
  async function overwriteConfig(roundId: string, change: Partial<RoundConfig>): Promise<void> {
    const meta = keysOf(roundId).meta;
    const config = fromBinary(RoundConfigSchema, (await redis.hgetBuffer(meta, 'config'))!);
    await redis.hset(meta, 'config', Buffer.from(toBinary(RoundConfigSchema, create(RoundConfigSchema, { ...config, ...change }))));
  }

  const submitAs = (subject: string, roundId: string, values: Float64Array, keyholderKeys?: string[]) =>
    asClient(cluster, subject, (client) => client.submitUpdate(roundId, values), { keyholderKeys });

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1 });
    redis = new Redis(cluster.redisUrl);
    coordinator = await cluster.client('coordinator', 'attestation-coordinator');
  }, 300_000);

  afterAll(async () => {
    coordinator?.close();
    redis?.disconnect();
    await cluster?.stop();
  }, 300_000);

  it('an honest round carries the keyholder signature, verifies, and releases', async () => {
    const round = await openRound();
    const { attestation, round: served } = await coordinator.getRound(round.roundId);
    assert.equal(attestation?.signatures.length, 1);
    const statement = fromBinary(RoundStatementSchema, attestation!.statement);
    assert.equal(statement.roundId, round.roundId);
    assert.equal(statement.config?.clipNorm, 1);
    assert.equal(statement.ckks?.ciphertextCount, served?.ckks?.ciphertextCount);
    const updates = [makeUpdate(LENGTH, 1, 0.8), makeUpdate(LENGTH, 2, 1.5)];
    await Promise.all(updates.map((u, i) => submitAs(`honest-${i}`, round.roundId, u)));
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.ok(maxAbsDiff(result.sum, clippedSum(updates, 1)) <= 6 * result.header.noiseSigma);
  }, 300_000);

  it("refuses a public key substituted in the round store (the attacker's own valid SEAL key): nothing is uploaded", async () => {
    const round = await openRound();
    using engine = await CkksEngine.create(toCkksParams(round.ckks!));
    const attackerKey = engine.generateKeyPair().publicKey;
    await redis.set(keysOf(round.roundId).publicKey, Buffer.from(attackerKey));
    await assert.rejects(submitAs('victim-pk', round.roundId, makeUpdate(LENGTH, 3, 0.5)), refused('mismatch', /public key/));
    await assertNothingUploaded(round.roundId);
  }, 300_000);

  it('refuses a clip norm, and separately a min clients, altered in the round store: nothing is uploaded', async () => {
    const clip = await openRound();
    await overwriteConfig(clip.roundId, { clipNorm: 1_000 });
    await assert.rejects(submitAs('victim-clip', clip.roundId, makeUpdate(LENGTH, 4, 0.5)), refused('mismatch', /configuration \(clipNorm\)/));
    await assertNothingUploaded(clip.roundId);

    const min = await openRound();
    await overwriteConfig(min.roundId, { minClients: 1 });
    await assert.rejects(submitAs('victim-min', min.roundId, makeUpdate(LENGTH, 5, 0.5)), refused('mismatch', /configuration \(minClients\)/));
    await assertNothingUploaded(min.roundId);
  }, 300_000);

  it('refuses a forged signature, a re-signed statement by an unknown key, a truncated statement, and a missing attestation', async () => {
    const meta = async (roundId: string) => keysOf(roundId).meta;
    const stored = async (roundId: string) => fromBinary(RoundAttestationSchema, (await redis.hgetBuffer(await meta(roundId), 'attestation'))!);
    const store = async (roundId: string, attestation: ReturnType<typeof create<typeof RoundAttestationSchema>>) =>
      redis.hset(await meta(roundId), 'attestation', Buffer.from(toBinary(RoundAttestationSchema, attestation)));

    // The whole substitution done consistently: the attacker's key, and a statement of it signed by the attacker.
    const resigned = await openRound();
    using engine = await CkksEngine.create(toCkksParams(resigned.ckks!));
    const attackerKey = engine.generateKeyPair().publicKey;
    await redis.set(keysOf(resigned.roundId).publicKey, Buffer.from(attackerKey));
    const attacker = RoundSigner.generate();
    await store(resigned.roundId, attacker.sign(roundStatementBytes({ roundId: resigned.roundId, config: resigned.config!, ckks: resigned.ckks!, publicKey: attackerKey })));
    await assert.rejects(submitAs('victim-resigned', resigned.roundId, makeUpdate(LENGTH, 6, 0.5)), refused('unknown_signer'));
    await assertNothingUploaded(resigned.roundId);

    // The attacker's signature relabelled with the pinned key's id.
    const real = (await stored(resigned.roundId)).signatures[0]!;
    const honestKeyId = (await stored((await openRound()).roundId)).signatures[0]!.keyId;
    await store(resigned.roundId, create(RoundAttestationSchema, { statement: (await stored(resigned.roundId)).statement, signatures: [{ ...real, keyId: honestKeyId }] }));
    await assert.rejects(submitAs('victim-forged', resigned.roundId, makeUpdate(LENGTH, 7, 0.5)), refused('bad_signature'));
    await assertNothingUploaded(resigned.roundId);

    const truncated = await openRound();
    const original = await stored(truncated.roundId);
    await store(truncated.roundId, create(RoundAttestationSchema, { ...original, statement: original.statement.subarray(0, original.statement.length - 8) }));
    await assert.rejects(submitAs('victim-truncated', truncated.roundId, makeUpdate(LENGTH, 8, 0.5)), refused('bad_signature'));
    await assertNothingUploaded(truncated.roundId);

    await redis.hdel(await meta(truncated.roundId), 'attestation');
    await assert.rejects(submitAs('victim-unsigned', truncated.roundId, makeUpdate(LENGTH, 9, 0.5)), refused('no_attestation'));
    await assertNothingUploaded(truncated.roundId);
  }, 300_000);

  it('refuses to encrypt without a pinned key, saying how to pin one', async () => {
    const round = await openRound();
    await assert.rejects(submitAs('unpinned', round.roundId, makeUpdate(LENGTH, 10, 0.5), []), refused('no_pinned_key', /--keyholder-key FILE/));
    await assertNothingUploaded(round.roundId);
  }, 300_000);

  it('rotation: a client pinning only the old key refuses a round signed by the new one; pinning both accepts both', async () => {
    const oldKey = cluster.keyholderVerificationKeyPem;
    const before = await openRound();
    const next = cluster.newKeyholderSigningKey('rotated-signing-key.pem');
    await cluster.restart('keyholder', { KEYHOLDER_SIGNING_KEY_FILE: next.file });
    // The gateway reconnects to the restarted keyholder on its own.
    let after: Awaited<ReturnType<typeof openRound>> | undefined;
    for (let attempt = 0; !after; attempt++) {
      try {
        after = await openRound();
      } catch (error) {
        if (attempt >= 50 || !isSecaggError(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.equal((await coordinator.getRound(after.roundId)).attestation?.signatures[0]?.keyId, next.keyId);

    const pinning = async (keys: string[]) => cluster.client('client', 'rotation-check', { keyholderKeys: keys });
    const oldOnly = await pinning([oldKey]);
    const both = await pinning([oldKey, next.verificationKeyPem]);
    const newOnly = await pinning([next.verificationKeyPem]);
    try {
      assert.equal((await oldOnly.getVerifiedRound(before.roundId)).roundId, before.roundId);
      await assert.rejects(oldOnly.getVerifiedRound(after.roundId), refused('unknown_signer', /pin the new verification key/));
      assert.equal((await both.getVerifiedRound(before.roundId)).roundId, before.roundId);
      assert.equal((await both.getVerifiedRound(after.roundId)).roundId, after.roundId);
      await assert.rejects(newOnly.getVerifiedRound(before.roundId), refused('unknown_signer'));
    } finally {
      for (const client of [oldOnly, both, newOnly]) client.close();
    }
    await assert.rejects(submitAs('rotation-old', after.roundId, makeUpdate(LENGTH, 11, 0.5), [oldKey]), refused('unknown_signer'));
    await assertNothingUploaded(after.roundId);
    const receipt = await submitAs('rotation-both', after.roundId, makeUpdate(LENGTH, 12, 0.5), [oldKey, next.verificationKeyPem]);
    assert.equal(receipt.receipt.roundId, after.roundId);
    assert.equal((await coordinator.getRoundStatus(after.roundId)).committedCount, 1);
  }, 300_000);
});
