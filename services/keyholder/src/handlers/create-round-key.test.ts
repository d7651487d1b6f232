/**
 * CreateRoundKey signs what clients must trust (issue 10), in process: real
 * SQLite store, real SEAL (small n2048-q54 preset). The attestation verifies
 * under the keyholder's key and states exactly the round the keyholder
 * stored; an idempotent repeat restates the same bytes, signed by whichever
 * key the keyholder holds now (rotation); a refused round gets no signature.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { create, equals } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { PinnedKeyholderKeys, RoundSigner } from '@secagg/protocol';
import { CkksParametersSchema, CreateRoundKeyRequestSchema, Encoding, RoundConfigSchema, type RoundConfig } from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { KeyholderHarness } from '../testing/index.js';
import { createRoundKey } from './create-round-key.js';

describe('CreateRoundKey signs the round statement (in process)', () => {
  let keyholder: KeyholderHarness;
  let deps: KeyholderContext;

  const roundConfig = (overrides: Partial<Omit<RoundConfig, '$typeName' | '$unknown'>> = {}) =>
    create(RoundConfigSchema, {
      vectorLength: 3_000,
      minClients: 3,
      maxClients: 5,
      deadlineUnixMs: BigInt(Date.now() + 600_000),
      clipNorm: 1,
      noiseMultiplier: 4,
      preset: 'n2048-q54',
      encoding: Encoding.COEFFICIENTS,
      privacyGroup: 'signing',
      ...overrides,
    });
  const request = (roundId: string, config: RoundConfig) => create(CreateRoundKeyRequestSchema, { roundId, config });

  beforeAll(() => {
    keyholder = KeyholderHarness.open({ name: 'keyholder-signing' });
    deps = keyholder.deps;
  }, 120_000);

  afterAll(() => keyholder.close(), 120_000);

  it('states the round id, the accepted config, the chosen CKKS parameters and the public key hash, under its key', async () => {
    const config = roundConfig();
    const key = await createRoundKey(request('r-signed', config), deps);
    const statement = PinnedKeyholderKeys.fromPems([deps.signer.verificationKeyPem]).verify(key.attestation, 'r-signed');
    assert.equal(key.attestation!.signatures[0]!.keyId, deps.signer.keyId);
    assert.ok(equals(RoundConfigSchema, statement.config!, config));
    assert.ok(equals(CkksParametersSchema, statement.ckks!, key.ckks!));
    assert.deepEqual(Buffer.from(statement.publicKeySha256), createHash('sha256').update(key.publicKey).digest());
  }, 120_000);

  it('restates the same bytes on an idempotent repeat, signed by the current key after a rotation', async () => {
    const config = roundConfig({ privacyGroup: 'signing-repeat' });
    const first = await createRoundKey(request('r-repeat', config), deps);
    const again = await createRoundKey(request('r-repeat', config), deps);
    assert.deepEqual(again.attestation, first.attestation);
    const rotated = { ...deps, signer: RoundSigner.generate() };
    const afterRotation = await createRoundKey(request('r-repeat', config), rotated);
    assert.deepEqual(afterRotation.attestation!.statement, first.attestation!.statement);
    assert.equal(afterRotation.attestation!.signatures[0]!.keyId, rotated.signer.keyId);
    assert.throws(() => PinnedKeyholderKeys.fromPems([deps.signer.verificationKeyPem]).verify(afterRotation.attestation, 'r-repeat'), /pin the new verification key/);
  }, 120_000);

  it('signs nothing for a round it refuses', async () => {
    // z = 1e-9: the noise would not flood the decryption error, so the round is refused before any key exists.
    await assert.rejects(
      createRoundKey(request('r-refused', roundConfig({ noiseMultiplier: 1e-9, privacyGroup: 'signing-refused' })), deps),
      (e: SecaggError) => e.code === Code.FailedPrecondition,
    );
    assert.equal(deps.store.getRoundKey('r-refused'), undefined);
  }, 120_000);
});
