/** Round statements: built and signed by the keyholder's side, verified and compared by the client's. */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CkksParametersSchema, Encoding, RoundAttestationSchema, RoundConfigSchema, RoundKind, RoundStatementSchema, VoteMechanism, VoteRoundConfigSchema, VoteShape } from '@secagg/proto';
import {
  checkServedRound,
  PinnedKeyholderKeys,
  ROUND_STATEMENT_TAG,
  RoundSigner,
  roundStatementBytes,
  RoundVerificationError,
  verificationKeyId,
} from './round-attestation.js';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const config = create(RoundConfigSchema, {
  vectorLength: 10_000,
  minClients: 3,
  maxClients: 50,
  deadlineUnixMs: 1_800_000_000_000n,
  clipNorm: 1,
  noiseMultiplier: 1.1,
  privacyGroup: 'lora',
  samplingRate: 0.5,
});
const ckks = create(CkksParametersSchema, {
  preset: 'n4096-q54',
  encoding: Encoding.COEFFICIENTS,
  scaleBits: 38,
  valuesPerCiphertext: 4096,
  ciphertextBytes: 65_609,
  ciphertextCount: 3,
});
const publicKey = new Uint8Array(1_000).fill(7);
const round = { roundId: 'r-test', config, ckks, publicKey };

const refuses = (reason: RoundVerificationError['reason'], pattern?: RegExp) => (error: unknown) =>
  error instanceof RoundVerificationError && error.reason === reason && (pattern === undefined || pattern.test(error.message));

describe('round statement', () => {
  const old = keyPair();
  const signer = RoundSigner.fromPem(old.privatePem);
  const pinned = PinnedKeyholderKeys.fromPems([old.publicPem]);

  it('round-trips: the statement carries the tag, round, config, CKKS parameters and the key hash', () => {
    const attestation = signer.sign(roundStatementBytes(round));
    assert.equal(attestation.signatures.length, 1);
    assert.equal(attestation.signatures[0]!.keyId, signer.keyId);
    assert.match(signer.keyId, /^[0-9a-f]{16}$/);
    const statement = pinned.verify(attestation, 'r-test');
    assert.equal(statement.tag, ROUND_STATEMENT_TAG);
    const verified = checkServedRound(statement, round);
    assert.equal(verified.config.clipNorm, 1);
    assert.equal(verified.config.samplingRate, 0.5);
    assert.equal(verified.ckks.scaleBits, 38);
    // Ed25519 is deterministic: an idempotent repeat signs to the same bytes.
    assert.deepEqual(signer.sign(roundStatementBytes(round)), attestation);
  });

  it('key id is a hash prefix of the SPKI, the same from the private and the public side', () => {
    const { publicKey: key } = generateKeyPairSync('ed25519');
    const pem = key.export({ type: 'spki', format: 'pem' }).toString();
    assert.deepEqual(PinnedKeyholderKeys.fromPems([pem]).keyIds, [verificationKeyId(key)]);
    assert.equal(PinnedKeyholderKeys.fromPems([old.publicPem]).keyIds[0], signer.keyId);
    assert.equal(signer.verificationKeyPem.trim(), old.publicPem.trim());
  });

  it('refuses a forged signature, an unknown key id, a truncated or altered statement, and no attestation', () => {
    const attestation = signer.sign(roundStatementBytes(round));
    const forged = create(RoundAttestationSchema, {
      statement: attestation.statement,
      signatures: [{ keyId: signer.keyId, ed25519Signature: new Uint8Array(64).fill(1) }],
    });
    assert.throws(() => pinned.verify(forged, 'r-test'), refuses('bad_signature'));
    const short = create(RoundAttestationSchema, { statement: attestation.statement, signatures: [{ keyId: signer.keyId, ed25519Signature: new Uint8Array(10) }] });
    assert.throws(() => pinned.verify(short, 'r-test'), refuses('bad_signature'));
    const stranger = RoundSigner.fromPem(keyPair().privatePem).sign(attestation.statement);
    assert.throws(() => pinned.verify(stranger, 'r-test'), refuses('unknown_signer', /pin the new verification key/));
    // An attacker relabelling their own signature with the pinned key id is a forgery.
    const relabelled = create(RoundAttestationSchema, {
      statement: attestation.statement,
      signatures: [{ keyId: signer.keyId, ed25519Signature: stranger.signatures[0]!.ed25519Signature }],
    });
    assert.throws(() => pinned.verify(relabelled, 'r-test'), refuses('bad_signature'));
    const truncated = create(RoundAttestationSchema, { ...attestation, statement: attestation.statement.subarray(0, attestation.statement.length - 5) });
    assert.throws(() => pinned.verify(truncated, 'r-test'), refuses('bad_signature'));
    const altered = fromBinary(RoundStatementSchema, attestation.statement);
    altered.config!.clipNorm = 100;
    const alteredAttestation = create(RoundAttestationSchema, { ...attestation, statement: toBinary(RoundStatementSchema, altered) });
    assert.throws(() => pinned.verify(alteredAttestation, 'r-test'), refuses('bad_signature'));
    assert.throws(() => pinned.verify(undefined, 'r-test'), refuses('no_attestation'));
    assert.throws(() => pinned.verify(create(RoundAttestationSchema, {}), 'r-test'), refuses('no_attestation'));
  });

  it('refuses a valid statement about another round or with another tag', () => {
    assert.throws(() => pinned.verify(signer.sign(roundStatementBytes(round)), 'r-other'), refuses('bad_statement', /about round r-test/));
    const wrongTag = toBinary(RoundStatementSchema, create(RoundStatementSchema, { ...fromBinary(RoundStatementSchema, roundStatementBytes(round)), tag: 'secagg.other.v1' }));
    assert.throws(() => pinned.verify(signer.sign(wrongTag), 'r-test'), refuses('bad_statement', /tag/));
  });

  it('refuses a served key or parameter that differs from the signed ones', () => {
    const statement = pinned.verify(signer.sign(roundStatementBytes(round)), 'r-test');
    const otherKey = new Uint8Array(publicKey);
    otherKey[500] = 8;
    assert.throws(() => checkServedRound(statement, { ...round, publicKey: otherKey }), refuses('mismatch', /public key/));
    assert.throws(() => checkServedRound(statement, { ...round, config: { ...config, clipNorm: 50 } }), refuses('mismatch', /clipNorm/));
    assert.throws(() => checkServedRound(statement, { ...round, config: { ...config, minClients: 1 } }), refuses('mismatch', /minClients/));
    assert.throws(() => checkServedRound(statement, { ...round, ckks: { ...ckks, scaleBits: 20 } }), refuses('mismatch', /scaleBits/));
    assert.throws(() => checkServedRound(statement, { ...round, config: undefined }), refuses('mismatch'));
  });

  it('covers a vote round\'s parameters: a served mechanism, sigma, threshold or transfer set other than the signed ones is refused', () => {
    const votes = create(VoteRoundConfigSchema, {
      queries: 100,
      classes: 10,
      shape: VoteShape.ONE_HOT,
      mechanism: VoteMechanism.CONFIDENT_GNMAX,
      sigma1: 150,
      sigma2: 40,
      threshold: 200,
      transferSetId: 'mnist-transfer/v1',
      transferSetSha256: new Uint8Array(32).fill(7),
    });
    const voteConfig = create(RoundConfigSchema, { ...config, kind: RoundKind.VOTES, vectorLength: 1_000, clipNorm: 0, noiseMultiplier: 0, samplingRate: 0, votes });
    const voteRound = { ...round, config: voteConfig };
    const statement = pinned.verify(signer.sign(roundStatementBytes(voteRound)), 'r-test');
    assert.deepEqual(statement.config!.votes, votes);
    const served = (change: Partial<typeof votes>) => ({ ...voteRound, config: create(RoundConfigSchema, { ...voteConfig, votes: { ...votes, ...change } }) });
    for (const change of [
      { mechanism: VoteMechanism.GNMAX },
      { sigma2: 4 },
      { sigma1: 15 },
      { threshold: 20 },
      { queries: 101 },
      { transferSetId: 'mnist-transfer/v2' },
      { transferSetSha256: new Uint8Array(32).fill(8) },
    ]) {
      assert.throws(() => checkServedRound(statement, served(change)), refuses('mismatch', /votes/), JSON.stringify(Object.keys(change)));
    }
    assert.throws(() => checkServedRound(statement, { ...voteRound, config: create(RoundConfigSchema, { ...voteConfig, kind: RoundKind.GRADIENT }) }), refuses('mismatch', /kind/));
  });

  it('rotation: a client pinning only the old key refuses a round signed by the new one; pinning both accepts both', () => {
    const next = RoundSigner.fromPem(keyPair().privatePem);
    const oldRound = signer.sign(roundStatementBytes(round));
    const newRound = next.sign(roundStatementBytes(round));
    assert.throws(() => pinned.verify(newRound, 'r-test'), refuses('unknown_signer'));
    const both = PinnedKeyholderKeys.fromPems([old.publicPem + next.verificationKeyPem]);
    assert.equal(both.size, 2);
    assert.equal(both.verify(oldRound, 'r-test').roundId, 'r-test');
    assert.equal(both.verify(newRound, 'r-test').roundId, 'r-test');
    assert.throws(() => PinnedKeyholderKeys.fromPems([next.verificationKeyPem]).verify(oldRound, 'r-test'), refuses('unknown_signer'));
  });

  it('carries several signatures (threshold keyholders) and can require more than one', () => {
    const second = RoundSigner.fromPem(keyPair().privatePem);
    const statementBytes = roundStatementBytes(round);
    const two = create(RoundAttestationSchema, {
      statement: statementBytes,
      signatures: [...signer.sign(statementBytes).signatures, ...second.sign(statementBytes).signatures],
    });
    const both = PinnedKeyholderKeys.fromPems([old.publicPem, second.verificationKeyPem]);
    assert.equal(both.verify(two, 'r-test', 2).roundId, 'r-test');
    assert.throws(() => both.verify(signer.sign(statementBytes), 'r-test', 2), refuses('unknown_signer'));
  });

  it('refuses to run without a pinned key, and refuses keys that are not Ed25519', () => {
    assert.throws(() => PinnedKeyholderKeys.fromPems([]).verify(signer.sign(roundStatementBytes(round)), 'r-test'), refuses('no_pinned_key', /--keyholder-key/));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(() => PinnedKeyholderKeys.fromPems([rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()]), /Ed25519/);
    assert.throws(() => RoundSigner.fromPem(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), /Ed25519/);
    assert.throws(() => PinnedKeyholderKeys.fromPems(['not a key']), /PUBLIC KEY/);
  });
});
