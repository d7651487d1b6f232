/**
 * The release path through the spool (issue 5 item 2), in process: real
 * SQLite store, real SEAL on the small n2048-q54 preset, the handler driven
 * directly (as in release-policy.test.ts). The spool must change nothing a
 * client can see: the released values are those of decrypting the
 * ciphertexts one by one (what the keyholder computed when it held them all
 * in memory), a cut stream consumes nothing and leaves no file behind.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { CkksEngine, decryptVector, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { CreateRoundKeyRequestSchema, Encoding, RoundConfigSchema, type CreateRoundKeyResponse, type ReleaseRoundRequest } from '@secagg/proto';
import type { KeyholderConfig } from '../config.js';
import type { KeySealer } from '../domain/sealing.js';
import type { KeyholderContext } from '../keyholder-context.js';
import { gatherRelease as released, KeyholderHarness, releaseFrames, streamOf } from '../testing/index.js';
import { createRoundKey } from './create-round-key.js';
import { releaseRound } from './release-round.js';

const LENGTH = 5_000; // three ciphertexts of n2048 coefficients, the last one partly padding

describe('keyholder release through the spool (in process)', () => {
  let keyholder: KeyholderHarness;
  let deps: KeyholderContext;
  /** Every round secret key createRoundKey sealed, captured for the test's own reference decryption. */
  const secretKeys = new Map<string, Uint8Array>();
  const total = Float64Array.from({ length: LENGTH }, (_, i) => 0.015 * Math.sin(i)); // L2 norm ~0.75 <= count x C = 2

  const context = (overrides: Partial<KeyholderConfig>) => keyholder.context(overrides);

  async function roundKey(roundId: string, config: Omit<MessageInitShape<typeof RoundConfigSchema>, '$typeName'> = {}): Promise<CreateRoundKeyResponse> {
    return createRoundKey(
      create(CreateRoundKeyRequestSchema, {
        roundId,
        config: create(RoundConfigSchema, {
          vectorLength: LENGTH,
          minClients: 2,
          maxClients: 2,
          deadlineUnixMs: BigInt(Date.now() + 600_000),
          clipNorm: 1,
          noiseMultiplier: 4,
          preset: 'n2048-q54',
          encoding: Encoding.COEFFICIENTS,
          privacyGroup: roundId,
          ...config,
        }),
      }),
      deps,
    );
  }

  async function encrypt(key: CreateRoundKeyResponse): Promise<Uint8Array[]> {
    const params = toCkksParams(key.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(key.publicKey);
    return [...encryptVector(encryptor, params, total)];
  }

  /** What the keyholder released before the spool: each ciphertext decrypted in turn into one vector. */
  async function decryptedInMemory(roundId: string, key: CreateRoundKeyResponse, ciphertexts: Uint8Array[]): Promise<Float64Array> {
    const params = toCkksParams(key.ckks!);
    using engine = await CkksEngine.create(params);
    using decryptor = engine.createDecryptor(secretKeys.get(roundId)!);
    return decryptVector(decryptor, params, ciphertexts, LENGTH);
  }

  /** The aggregator's frames of a two-client sum: the header, then each ciphertext. */
  const frames = (roundId: string, ciphertexts: Uint8Array[], ciphertextCount = ciphertexts.length) =>
    releaseFrames(roundId, 2, ciphertexts, { ciphertextCount });
  const stream = (roundId: string, ciphertexts: Uint8Array[]) => streamOf(frames(roundId, ciphertexts));

  const spoolDir = () => join(keyholder.dataDir, 'spool');
  const spoolFiles = () => readdirSync(spoolDir());

  beforeAll(() => {
    const capture = (sealer: KeySealer): KeySealer => {
      const capturing = Object.create(sealer) as KeySealer;
      capturing.seal = (secretKey: Uint8Array, roundId: string) => {
        secretKeys.set(roundId, Uint8Array.from(secretKey));
        return sealer.seal(secretKey, roundId);
      };
      return capturing;
    };
    keyholder = KeyholderHarness.open({
      name: 'keyholder-spool-release',
      config: { allowUnsafeNoiseFreeRelease: 'true', minClientsFloor: 2 },
      wrapSealer: capture,
    });
    deps = keyholder.deps;
  }, 300_000);
  afterAll(() => keyholder.close(), 300_000);

  it('a noise-free release is exactly the in-memory decryption of the ciphertexts, in frames covering [0, length)', async () => {
    const key = await roundKey('exact', { unsafeDisableNoise: true });
    const ciphertexts = await encrypt(key);
    assert.equal(ciphertexts.length, 3);
    const expected = await decryptedInMemory('exact', key, ciphertexts);

    const result = await released(releaseRound(stream('exact', ciphertexts), context({ resultValuesPerMessage: 2_000 })));
    assert.deepEqual(result.values, expected, 'bit-identical to decrypting in memory');
    assert.deepEqual(result.offsets, [0, 2_000, 4_000]);
    assert.equal(result.header.vectorLength, LENGTH);
    assert.ok(result.values.every((v, i) => Math.abs(v - total[i]!) < 1e-6), 'and close to the true sum');
    assert.deepEqual(spoolFiles(), [], 'the spool is deleted');
    assert.equal(deps.store.getRoundKey('exact')!.status, 'released');

    // The retry gets the stored release: the same values, framed by the current setting.
    const again = await released(releaseRound(stream('exact', []), context({ resultValuesPerMessage: 1_500 })));
    assert.deepEqual(again.values, expected);
    assert.deepEqual(again.offsets, [0, 1_500, 3_000, 4_500]);
  }, 300_000);

  it('a noisy release is the decrypted sum plus discrete Gaussian noise of sigma z x C, on the grid', async () => {
    const key = await roundKey('noisy');
    const ciphertexts = await encrypt(key);
    const expected = await decryptedInMemory('noisy', key, ciphertexts);
    const result = await released(releaseRound(stream('noisy', ciphertexts), deps));
    const { noiseSigma: sigma, gridStep } = result.header;
    assert.equal(sigma, 4);
    assert.ok(gridStep > 0 && result.values.every((v) => Number.isInteger(v / gridStep)), 'every value on the output grid');
    let sum = 0;
    let squares = 0;
    for (let i = 0; i < LENGTH; i++) {
      const noise = (result.values[i]! - expected[i]!) / sigma;
      sum += noise;
      squares += noise * noise;
    }
    const mean = sum / LENGTH;
    const std = Math.sqrt(squares / LENGTH - mean * mean);
    // 5,000 samples: the standard error of the mean is 0.014 and of the std about 0.01 (both in sigmas).
    assert.ok(Math.abs(mean) < 0.08, `noise mean ${mean} sigma`);
    assert.ok(std > 0.94 && std < 1.06, `noise std ${std} sigma`);
    const again = await released(releaseRound(stream('noisy', []), deps));
    assert.deepEqual(again.values, result.values, 'the stored release is what was returned');
  }, 300_000);

  it('a stream cut midway leaves the key unconsumed and no spool file; the round then releases normally', async () => {
    const key = await roundKey('cut');
    const ciphertexts = await encrypt(key);
    let spooledAfterFirst: number[] = [];
    async function* cut(): AsyncGenerator<ReleaseRoundRequest> {
      const [header, first, second] = frames('cut', ciphertexts);
      yield header!;
      yield first!;
      // Resumed: the handler wrote chunk 0 before asking for more.
      spooledAfterFirst = spoolFiles().map((name) => statSync(join(spoolDir(), name)).size);
      yield second!;
      throw new Error('connection reset by peer');
    }
    await assert.rejects(released(releaseRound(cut(), deps)), /connection reset by peer/);
    assert.deepEqual(spooledAfterFirst, [ciphertexts[0]!.byteLength], 'the first ciphertext was on disk while the rest arrived');
    assert.deepEqual(spoolFiles(), []);
    assert.equal(deps.store.getRoundKey('cut')!.status, 'ready');

    // A stream that just ends early, and one with a broken ciphertext: refused, nothing consumed, nothing left.
    await assert.rejects(released(releaseRound(streamOf(frames('cut', ciphertexts.slice(0, 1), 3)), deps)), (e: SecaggError) => e.code === Code.InvalidArgument && /received 1 of 3 ciphertexts/.test(e.message));
    const broken = Uint8Array.from(ciphertexts[2]!);
    broken.fill(0xff, broken.length - 8);
    await assert.rejects(released(releaseRound(stream('cut', [ciphertexts[0]!, ciphertexts[1]!, broken]), deps)), (e: SecaggError) => {
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /^chunk 2: /);
      return true;
    });
    // One more ciphertext than the sum has: refused as it arrives, not after spooling it.
    await assert.rejects(released(releaseRound(streamOf(frames('cut', [...ciphertexts, ciphertexts[0]!], 3)), deps)), (e: SecaggError) => e.code === Code.InvalidArgument && /chunk 3 is beyond the sum's 3 ciphertexts/.test(e.message));
    assert.deepEqual(spoolFiles(), []);
    assert.equal(deps.store.getRoundKey('cut')!.status, 'ready');
    assert.equal(deps.store.ledger('cut').length, 0);

    const result = await released(releaseRound(stream('cut', ciphertexts), deps));
    assert.equal(result.values.length, LENGTH);
    assert.equal(deps.store.getRoundKey('cut')!.status, 'released');
  }, 300_000);

  it('a forged aggregate refused by the range check leaves no spool file either', async () => {
    const key = await roundKey('forged-spool');
    const params = toCkksParams(key.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(key.publicKey);
    const forged = [...encryptVector(encryptor, params, new Float64Array(LENGTH).fill(3))];
    await assert.rejects(released(releaseRound(stream('forged-spool', forged), deps)), (e: SecaggError) => e.reason === 'out_of_range');
    assert.deepEqual(spoolFiles(), []);
    assert.equal(deps.store.getRoundKey('forged-spool')!.status, 'refused');
  }, 300_000);

  it('spools to config.spoolDir when it is set', async () => {
    const key = await roundKey('elsewhere');
    const ciphertexts = await encrypt(key);
    const elsewhere = join(keyholder.dataDir, 'scratch');
    let seen: string[] = [];
    async function* watched(): AsyncGenerator<ReleaseRoundRequest> {
      const [header, ...chunks] = frames('elsewhere', ciphertexts);
      yield header!;
      for (const [i, chunk] of chunks.entries()) {
        yield chunk;
        if (i === 0) seen = readdirSync(elsewhere);
      }
    }
    await released(releaseRound(watched(), context({ spoolDir: elsewhere })));
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /^elsewhere\.[0-9a-f]{16}\.spool$/);
    assert.deepEqual(readdirSync(elsewhere), []);
  }, 300_000);
});
