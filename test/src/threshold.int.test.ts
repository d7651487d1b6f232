/**
 * Threshold keyholders (issue 16), through the real cluster: three keyholder
 * processes (each its own data dir, KEK, signing key and TLS identity) hold
 * every round's key in shares; the gateway has the collective key signed by
 * all three; the aggregator gathers their decryption shares and combines
 * them. Real Redis, real gRPC, real node-seal.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { create, fromBinary } from '@bufbuild/protobuf';
import { createClient } from '@secagg/core';
import { addCiphertextInto, CkksEngine, combineDecryptionShares, encryptVector } from '@secagg/ckks';
import { contributorsDigest, formatOf, toCkksParams } from '@secagg/protocol';
import { KeyholderService, ReleaseShareRequestSchema, RoundState, RoundStatementSchema, type ReleaseShareRequest } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { clippedSum, inMinutes, makeUpdate, maxAbsDiff, submitEach, waitForEnd } from './helpers.js';

const LENGTH = 10_007; // 3 ciphertexts on the default preset, the last one mostly padding
const CLIENTS = 3;
const NOISE_FREE_GROUP = 'threshold-noise-free';

describe('threshold keyholders: a committee of three (n-of-n)', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1, keyholders: 3, allowUnsafeNoiseFreeRelease: true });
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 300_000);

  const submitAll = (roundId: string, tag: string, updates: Float64Array[]) => submitEach(cluster, roundId, tag, updates, { sequential: true });

  it('every keyholder signs the collective key, and the round releases the exact sum (noise-free test flag)', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1, // closed by the test, not by the last submission
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const served = await coordinator.getRound(round.roundId);
    assert.equal(served.attestation?.signatures.length, 3, 'one signature per keyholder');
    const statement = fromBinary(RoundStatementSchema, served.attestation!.statement);
    assert.deepEqual({ count: statement.config?.keyholders?.count, threshold: statement.config?.keyholders?.threshold }, { count: 3, threshold: 3 });
    assert.equal(statement.keyShareSha256.length, 3);

    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 40 + i, 0.5 + i));
    await submitAll(round.roundId, 'exact', updates);
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.equal(result.header.noiseDisabled, true);
    const expected = clippedSum(updates, 1);
    assert.ok(maxAbsDiff(result.sum, expected) < 1e-6, `max error ${maxAbsDiff(result.sum, expected)}`);
    coordinator.close();
  }, 300_000);

  it('a client that pins only two of the three keyholders refuses to encrypt', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: 100,
      minClients: 1,
      maxClients: 1,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const client = await cluster.client('client', 'two-pins', { keyholderKeys: cluster.keyholderVerificationKeyPems.slice(0, 2) });
    await assert.rejects(client.submitUpdate(round.roundId, new Float64Array(100)), /shared by 3 keyholders but 2 pinned keyholder key\(s\) signed it/);
    client.close();
    coordinator.close();
  }, 300_000);

  it('with noise, each keyholder adds its own sigma: the release is within 6 sigma of the sum and states sqrt(3) sigma', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const { round, privacy } = await coordinator.createRoundWithPrivacy({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1, // closed by the test, not by the last submission
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 1,
      privacyGroup: 'threshold-noised',
    });
    // One keyholder's noise alone floods the collective key's decryption error (log2(3) bits below the single keyholder's 44.3).
    assert.ok(privacy.floodingMarginBits >= 40, `flooding margin ${privacy.floodingMarginBits}`);
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 70 + i, 1));
    await submitAll(round.roundId, 'noised', updates);
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    const sigma = Math.sqrt(3);
    assert.ok(Math.abs(result.header.noiseSigma - sigma) < 1e-12, `noise sigma ${result.header.noiseSigma}`);
    const expected = clippedSum(updates, 1);
    const error = maxAbsDiff(result.sum, expected);
    assert.ok(error < 6 * sigma, `max error ${error}`);
    // The noise is there: values differ from the exact sum by about sigma.
    let squares = 0;
    for (let i = 0; i < LENGTH; i++) squares += (result.sum[i]! - expected[i]!) ** 2;
    const rms = Math.sqrt(squares / LENGTH);
    assert.ok(rms > 0.9 * sigma && rms < 1.1 * sigma, `rms noise ${rms}`);
    coordinator.close();
  }, 300_000);

  it('with one keyholder down the release waits, and completes when it returns', async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1, // closed by the test, not by the last submission
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 90 + i, 1));
    await submitAll(round.roundId, 'down', updates);
    await cluster.kill('keyholder-2');
    await coordinator.closeRound(round.roundId);
    // Several finalize attempts (1 s apart) fail UNAVAILABLE; the round neither fails nor releases.
    await new Promise((r) => setTimeout(r, 4_000));
    const waiting = await coordinator.getRoundStatus(round.roundId);
    assert.equal(RoundState[waiting.state], 'CLOSED', waiting.failureReason);
    await cluster.restart('keyholder-2');
    const ended = await waitForEnd(coordinator, round.roundId, 120_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(round.roundId);
    assert.ok(maxAbsDiff(result.sum, clippedSum(updates, 1)) < 1e-6);
    coordinator.close();
  }, 300_000);

  it('n - 1 decryption shares, collected by the test from real keyholders, decode to nothing better than noise', async () => {
    // The test plays the aggregator: it encrypts under the collective key, sums, and asks each keyholder for its shares.
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    const { round: served, publicKey } = await coordinator.getRound(round.roundId);
    coordinator.close();
    const params = toCkksParams(served!.ckks!);
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 130 + i, 1));
    const engine = await CkksEngine.create(params);
    let sum: Uint8Array[];
    try {
      const encryptor = engine.createEncryptor(publicKey);
      const encrypted = updates.map((u) => [...encryptVector(encryptor, params, u)]);
      encryptor.dispose();
      sum = encrypted[0]!;
      for (const e of encrypted.slice(1)) e.forEach((c, i) => addCiphertextInto(formatOf(served!.ckks!), sum[i]!, c));
    } finally {
      engine.dispose();
    }
    const digest = contributorsDigest(updates.map((_, i) => ({ clientId: `c${i}`, updateId: 'u' })));
    const frames = (includeC0: boolean): ReleaseShareRequest[] => [
      create(ReleaseShareRequestSchema, {
        frame: {
          case: 'header',
          value: { release: { roundId: round.roundId, contributionCount: CLIENTS, contributorsSha256: digest, ciphertextCount: sum.length }, includeC0 },
        },
      }),
      ...sum.map((ciphertext, index) => create(ReleaseShareRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } })),
    ];
    const sharesOf = async (name: string, includeC0: boolean): Promise<Uint8Array[]> => {
      const keyholder = createClient(KeyholderService, cluster.keyholderAddresses.get(name)!, { credentials: cluster.channelCredentials('aggregator') });
      const shares: Uint8Array[] = [];
      for await (const response of keyholder.releaseShare(frames(includeC0), { deadline: 60_000 })) {
        if (response.frame.case === 'share') shares.push(response.frame.value.share);
      }
      keyholder.close();
      return shares;
    };
    const decode = (perKeyholder: Uint8Array[][]): Float64Array => {
      const out = new Float64Array(LENGTH);
      sum.forEach((_, c) => {
        const values = combineDecryptionShares(params, perKeyholder.map((shares) => shares[c]!));
        out.set(values.subarray(0, Math.min(values.length, LENGTH - c * values.length)), c * values.length);
      });
      return out;
    };
    // Encrypted as they are (the test is no SDK client: nothing clipped).
    const expected = new Float64Array(LENGTH);
    for (const u of updates) for (let i = 0; i < LENGTH; i++) expected[i]! += u[i]!;
    const two = [await sharesOf('keyholder-1', true), await sharesOf('keyholder-2', false)];
    const partial = decode(two);
    // Uniform mod q: values spread evenly over ±R = ±q/(2·scale) (q ≈ 2^60, the default data prime), whatever the sum:
    // an RMS of R/√3 around it and no correlation with it (|sum| ≤ 3 here, so R = 128 dwarfs it).
    const range = 2 ** (59 - params.scaleBits);
    let squares = 0;
    let cross = 0;
    let pp = 0;
    let ee = 0;
    for (let i = 0; i < LENGTH; i++) {
      squares += (partial[i]! - expected[i]!) ** 2;
      cross += partial[i]! * expected[i]!;
      pp += partial[i]! ** 2;
      ee += expected[i]! ** 2;
    }
    const rms = Math.sqrt(squares / LENGTH);
    assert.ok(rms > 0.5 * range, `two of three shares: rms distance ${rms} to the sum (uniform: ${(range / Math.sqrt(3)).toFixed(1)})`);
    const correlation = cross / Math.sqrt(pp * ee);
    assert.ok(Math.abs(correlation) < 0.05, `two of three shares correlate ${correlation} with the sum`);
    // The third share completes it: the shares were the real ones.
    const all = decode([...two, await sharesOf('keyholder-3', false)]);
    assert.ok(maxAbsDiff(all, expected) < 1e-6, `all three shares: max error ${maxAbsDiff(all, expected)}`);
  }, 300_000);

  it("a keyholder whose own ledger refuses blocks the release, whatever the others' ledgers say", async () => {
    const coordinator = await cluster.client('coordinator', 'coord');
    const group = 'threshold-budget';
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1, // closed by the test, not by the last submission
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      noiseMultiplier: 1,
      privacyGroup: group,
    });
    // Keyholder 3's operator lowers the group's budget below one release (its ledger alone; the others are untouched).
    const keyholder3 = createClient(KeyholderService, cluster.keyholderAddresses.get('keyholder-3')!, { credentials: cluster.channelCredentials('client-gateway') });
    await keyholder3.setGroupPrivacyBudget({ privacyGroup: group, epsilon: 0.01 }, { deadline: 10_000 });
    keyholder3.close();
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, 110 + i, 1));
    await submitAll(round.roundId, 'budget', updates);
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.FAILED);
    assert.match(ended.failureReason, /keyholder refused the release: .*budget/);
    await assert.rejects(coordinator.getResult(round.roundId));
    coordinator.close();
  }, 300_000);
});

describe('threshold keyholders: 2 of 3 (t-of-n, Shamir-dealt key shares)', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1, keyholders: 3, threshold: 2, allowUnsafeNoiseFreeRelease: true });
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 300_000);

  async function roundWithUpdates(tag: string, seed: number): Promise<{ roundId: string; updates: Float64Array[] }> {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1,
      deadlineUnixMs: inMinutes(10),
      clipNorm: 1,
      unsafeDisableNoise: true,
      privacyGroup: NOISE_FREE_GROUP,
    });
    coordinator.close();
    const updates = Array.from({ length: CLIENTS }, (_, i) => makeUpdate(LENGTH, seed + i, 1));
    for (const [i, update] of updates.entries()) {
      const client = await cluster.client('client', `${tag}-client-${i}`);
      await client.submitUpdate(round.roundId, update);
      client.close();
    }
    return { roundId: round.roundId, updates };
  }

  async function release(roundId: string): Promise<Float64Array> {
    const coordinator = await cluster.client('coordinator', 'coord');
    await coordinator.closeRound(roundId);
    const ended = await waitForEnd(coordinator, roundId, 120_000);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    const result = await coordinator.getResult(roundId);
    coordinator.close();
    return result.sum;
  }

  it('all three sign the collective key; two of them release the exact sum', async () => {
    const { roundId, updates } = await roundWithUpdates('tn-all', 150);
    const coordinator = await cluster.client('coordinator', 'coord');
    const served = await coordinator.getRound(roundId);
    coordinator.close();
    const statement = fromBinary(RoundStatementSchema, served.attestation!.statement);
    assert.deepEqual({ count: statement.config?.keyholders?.count, threshold: statement.config?.keyholders?.threshold }, { count: 3, threshold: 2 });
    assert.equal(served.attestation?.signatures.length, 3);
    const sum = await release(roundId);
    assert.ok(maxAbsDiff(sum, clippedSum(updates, 1)) < 1e-6, `max error ${maxAbsDiff(sum, clippedSum(updates, 1))}`);
  }, 300_000);

  it('with one keyholder killed the round still releases, from the other two', async () => {
    const { roundId, updates } = await roundWithUpdates('tn-down', 170);
    await cluster.kill('keyholder-1'); // the lowest index: the combiner must pick 2 and 3, keyholder 2 carrying c0
    try {
      const sum = await release(roundId);
      assert.ok(maxAbsDiff(sum, clippedSum(updates, 1)) < 1e-6, `max error ${maxAbsDiff(sum, clippedSum(updates, 1))}`);
    } finally {
      await cluster.restart('keyholder-1');
    }
  }, 300_000);
  it('with two of three down the release waits, and completes when one returns', async () => {
    const { roundId, updates } = await roundWithUpdates('tn-two-down', 190);
    await cluster.kill('keyholder-2');
    await cluster.kill('keyholder-3');
    const coordinator = await cluster.client('coordinator', 'coord');
    try {
      await coordinator.closeRound(roundId);
      // Finalize attempts fail UNAVAILABLE (1 of 3 reachable, 2 needed); nothing fails, nothing is released.
      await new Promise((r) => setTimeout(r, 5_000));
      const waiting = await coordinator.getRoundStatus(roundId);
      assert.equal(RoundState[waiting.state], 'CLOSED', waiting.failureReason);
      await cluster.restart('keyholder-3');
      const ended = await waitForEnd(coordinator, roundId, 120_000);
      assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
      const result = await coordinator.getResult(roundId);
      assert.ok(maxAbsDiff(result.sum, clippedSum(updates, 1)) < 1e-6, `max error ${maxAbsDiff(result.sum, clippedSum(updates, 1))}`);
    } finally {
      coordinator.close();
      await cluster.restart('keyholder-2');
    }
  }, 300_000);
});
