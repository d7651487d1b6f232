/**
 * docs/WIRE_FORMAT.md's test vectors (docs/wire-format-vectors.json) against
 * the code and against an independent reference written from the document
 * (wire-format/reference.ts): real node-seal, the real validator, the
 * generated protobuf code. If the code's wire format changes, the first test
 * fails; if the document's description is wrong, the reference tests fail.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { CkksEngine, ciphertextFormat, publicKeyByteLengths, validateCiphertext, validatePublicKey, type PresetName } from '@secagg/ckks';
import { REPO_ROOT } from '@secagg/local-cluster';
import { GetResultResponseSchema, RoundAttestationSchema, SubmitUpdateRequestSchema } from '@secagg/proto';
import { bytesToFloat64, checkServedRound, PinnedKeyholderKeys, ROUND_STATEMENT_TAG, UPDATE_ID } from '@secagg/protocol';
import { encodedIntegers, nttByEvaluation, residues, sealCoeffModulus, u64le } from './wire-format/reference.js';
import { computeWireFormatVectors, DEFAULT_PRESET_NAME, INPUTS, MUTATIONS, transparentC0PublicKey, uploadChunk } from './wire-format/vectors.js';

const VECTORS_FILE = join(REPO_ROOT, 'docs', 'wire-format-vectors.json');
// The published file, read as JSON (its shape is computeWireFormatVectors' output).
const published = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as any;
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('wire-format test vectors', () => {
  it('docs/wire-format-vectors.json is what the code computes (regenerate: npm run wire-format:vectors)', async () => {
    const computed = JSON.parse(JSON.stringify(await computeWireFormatVectors()));
    assert.deepEqual(computed, published);
  }, 120_000);

  it('presets: the primes follow SEAL\'s CoeffModulus::Create rule, and the code\'s key-level constants hold the special prime', () => {
    for (const [name, p] of Object.entries<{ polyModulusDegree: number; coeffModulusBits: number[]; dataPrimes: string[]; specialPrime: string | null; keyParmsIdHex: string }>(
      published.presets,
    )) {
      const chain = sealCoeffModulus(p.polyModulusDegree, p.coeffModulusBits).map(String);
      const special = chain.length > 1 ? chain.pop()! : null;
      assert.deepEqual(chain, p.dataPrimes, `${name}: data primes`);
      assert.equal(special, p.specialPrime, `${name}: special prime`);
      if (special === null) continue;
      // The validator's idea of the key level: a key coefficient of the special prime's component must be < it, and p − 1 is fine.
      const primes = [...p.dataPrimes, special].map(BigInt);
      const key = transparentC0PublicKey(name as PresetName, p.keyParmsIdHex, primes);
      const at = 113 + (p.dataPrimes.length) * p.polyModulusDegree * 8; // c0, component of the special prime, coefficient 0
      new DataView(key.buffer).setBigUint64(at, BigInt(special) - 1n, true);
      assert.deepEqual(validatePublicKey(name as PresetName, key), { ok: true });
      new DataView(key.buffer).setBigUint64(at, BigInt(special), true);
      const verdict = validatePublicKey(name as PresetName, key);
      assert.equal(verdict.ok, false);
      assert.match((verdict as { reason: string }).reason, new RegExp(`coefficient 0 of polynomial 0 \\(prime ${p.dataPrimes.length}\\) >= q`));
    }
  }, 120_000);

  it('the ciphertext prefix is the documented field table', () => {
    for (const { preset, scaleBits, headerHex } of published.ciphertextHeaders as { preset: string; scaleBits: number; headerHex: string }[]) {
      const p = published.presets[preset];
      const h = bytes(headerHex);
      const v = new DataView(h.buffer);
      const k = p.dataPrimes.length as number;
      const n = p.polyModulusDegree as number;
      assert.equal(h.length, 113);
      assert.equal(v.getUint16(0, true), 0xa15e);
      assert.deepEqual([h[2], h[3], h[4], h[5], h[6], h[7]], [16, 4, 1, 0, 0, 0]);
      assert.equal(v.getBigUint64(8, true), BigInt(p.ciphertextBytes));
      assert.equal(Buffer.from(h.subarray(16, 48)).toString('hex'), p.dataParmsIdHex);
      assert.equal(h[48], 1);
      assert.equal(v.getBigUint64(49, true), 2n);
      assert.equal(v.getBigUint64(57, true), BigInt(n));
      assert.equal(v.getBigUint64(65, true), BigInt(k));
      assert.equal(v.getFloat64(73, true), 2 ** scaleBits);
      assert.equal(v.getBigUint64(81, true), 1n);
      assert.equal(v.getUint16(89, true), 0xa15e);
      assert.equal(v.getBigUint64(97, true), BigInt(16 + 8 + 2 * k * n * 8));
      assert.equal(v.getBigUint64(105, true), BigInt(2 * k * n));
      assert.equal(p.ciphertextBytes, 113 + 16 * k * n);
    }
  }, 120_000);

  it('the validator refuses each published mutation of a real ciphertext with the published reason', async () => {
    const params = { preset: DEFAULT_PRESET_NAME, encoding: 'coefficients', scaleBits: INPUTS.coefficientScaleBits } as const;
    const format = ciphertextFormat(params);
    using engine = await CkksEngine.create(params);
    const ct = engine.createEncryptor(engine.generateKeyPair().publicKey).encrypt(new Float64Array([0.25, -0.5]));
    assert.deepEqual(validateCiphertext(format, ct), { ok: true });
    const q = BigInt(format.moduli[0]!.decimal);
    assert.equal(published.ciphertextValidation.cases.length, MUTATIONS.length);
    MUTATIONS.forEach(({ mutation, apply }, i) => {
      const expected = published.ciphertextValidation.cases[i];
      assert.equal(expected.mutation, mutation);
      assert.notEqual(expected.reason, 'ACCEPTED');
      assert.deepEqual(validateCiphertext(format, apply(ct, q)), { ok: false, reason: expected.reason });
    });
  }, 120_000);

  it('coefficient encoding: round(x·2^s) mod q, then SEAL\'s NTT = evaluation at ψ^(2·bitrev(j)+1) — both directions through real SEAL', async () => {
    const v = published.coefficientEncoding;
    const q = BigInt(v.prime);
    const n = published.presets[DEFAULT_PRESET_NAME].polyModulusDegree as number;
    const integers = encodedIntegers(INPUTS.coefficientValues, v.scaleBits);
    assert.deepEqual(integers.map(String), v.integers);
    const res = residues(integers, q);
    assert.deepEqual(res.map(String), v.residues);
    const block = [...res, ...Array<bigint>(n - res.length).fill(0n)];
    assert.equal(sha256(u64le(block)), v.residuesBlockSha256);
    const ntt = nttByEvaluation(res, q, n);
    assert.deepEqual(ntt.slice(0, 8).map(String), v.nttFirstWords);
    assert.equal(sha256(u64le(ntt)), v.nttBlockSha256, 'the reference NTT is the NTT-form plaintext SEAL encrypts (published from the code)');

    // Decoding: with secret key s = 0, decryption returns c0; the decoder's inverse NTT must give back the values.
    const params = { preset: DEFAULT_PRESET_NAME, encoding: 'coefficients', scaleBits: v.scaleBits } as const;
    const format = ciphertextFormat(params);
    using engine = await CkksEngine.create(params);
    const key = published.presets[DEFAULT_PRESET_NAME];
    const kKey = key.dataPrimes.length + 1;
    const secret = new Uint8Array(88 + kKey * n * 8);
    const sv = new DataView(secret.buffer);
    const sealHeader = (at: number, size: number) => {
      sv.setUint16(at, 0xa15e, true);
      secret.set([16, 4, 1], at + 2);
      sv.setBigUint64(at + 8, BigInt(size), true);
    };
    sealHeader(0, secret.length);
    secret.set(bytes(key.keyParmsIdHex), 16);
    sv.setBigUint64(48, BigInt(kKey * n), true);
    sv.setFloat64(56, 1, true);
    sealHeader(64, 16 + 8 + kKey * n * 8);
    sv.setBigUint64(80, BigInt(kKey * n), true);
    const decryptor = engine.createDecryptor(secret);
    const ct = new Uint8Array(format.byteLength);
    ct.set(bytes(format.headerHex));
    ct.set(u64le(ntt), 113);
    ct.set(u64le(Array<bigint>(n).fill(1n)), 113 + n * 8); // c1: anything non-zero; s = 0 ignores it
    const decoded = decryptor.decrypt(ct);
    const expected = integers.map((i) => Number(i) / 2 ** v.scaleBits);
    assert.deepEqual([...decoded.subarray(0, expected.length)], expected);
    assert.ok(decoded.subarray(expected.length).every((x) => x === 0), 'the padding decodes to zeros');
  }, 120_000);

  it('contributors digest: SHA-256 of the sorted "<client>/<update>" lines joined by \\n', () => {
    const v = published.contributorsDigest;
    const lines = INPUTS.contributors.map((c) => `${c.clientId}/${c.updateId}`);
    const sorted = [...lines].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))); // bytewise
    assert.deepEqual(sorted, v.lines);
    assert.equal(sorted.join('\n'), v.input);
    assert.equal(sha256(Buffer.from(v.input, 'utf8')), v.sha256);
  }, 120_000);

  it('upload stream: the trailer is SHA-256 over the chunks\' ciphertext bytes only, and the frames parse', () => {
    const v = published.uploadStream;
    const chunks = [0, 1].map((c) => uploadChunk(c, INPUTS.uploadChunks.length));
    assert.deepEqual(chunks.map((c) => sha256(c)), v.chunkSha256);
    assert.equal(sha256(Buffer.concat(chunks)), v.trailerSha256);
    const header = fromBinary(SubmitUpdateRequestSchema, bytes(v.headerFrameHex));
    assert.equal(header.frame.case, 'header');
    const chunk = fromBinary(SubmitUpdateRequestSchema, Buffer.concat([bytes(v.chunkFramePrefixHex), chunks[1]!]));
    assert.equal(chunk.frame.case === 'chunk' && chunk.frame.value.index, 1);
    const trailer = fromBinary(SubmitUpdateRequestSchema, bytes(v.trailerFrameHex));
    assert.equal(trailer.frame.case === 'trailer' && Buffer.from(trailer.frame.value.sha256).toString('hex'), v.trailerSha256);
  }, 120_000);

  it('round attestation: Ed25519 over the statement bytes verifies under the RFC 8032 test key, and the SDK\'s verifier accepts it', () => {
    const v = published.roundAttestation;
    assert.equal(v.verificationKeyRawHex, 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'RFC 8032 7.1 TEST 1 public key');
    const key = createPublicKey({ key: Buffer.from(v.verificationKeySpkiDerHex, 'hex'), format: 'der', type: 'spki' });
    assert.equal(createHash('sha256').update(bytes(v.verificationKeySpkiDerHex)).digest().subarray(0, 8).toString('hex'), v.keyId);
    assert.ok(verify(null, bytes(v.statementHex), key, bytes(v.signatureHex)));
    const attestation = fromBinary(RoundAttestationSchema, bytes(v.attestationHex));
    assert.equal(Buffer.from(attestation.statement).toString('hex'), v.statementHex);
    const pem = key.export({ type: 'spki', format: 'pem' }).toString();
    const statement = PinnedKeyholderKeys.fromPems([pem]).verify(attestation, INPUTS.roundId);
    assert.equal(statement.tag, ROUND_STATEMENT_TAG);
    assert.equal(Buffer.from(statement.publicKeySha256).toString('hex'), sha256(bytes(INPUTS.publicKeyStandInHex)));
    checkServedRound(statement, { config: statement.config, ckks: statement.ckks, publicKey: bytes(INPUTS.publicKeyStandInHex) });
    const forged = bytes(v.statementHex);
    forged[forged.length - 1]! ^= 1;
    assert.equal(verify(null, forged, key, bytes(v.signatureHex)), false);
  }, 120_000);

  it('result stream: a values frame carries offset, sum and mean as little-endian float64', () => {
    const v = published.resultStream;
    const frame = fromBinary(GetResultResponseSchema, bytes(v.valuesFrameHex));
    assert.equal(frame.frame.case, 'values');
    if (frame.frame.case !== 'values') return;
    assert.equal(frame.frame.value.offset, 0);
    assert.deepEqual([...bytesToFloat64(frame.frame.value.sumF64le)], INPUTS.resultSum);
    assert.deepEqual([...bytesToFloat64(frame.frame.value.meanF64le)], INPUTS.resultSum.map((x) => x / INPUTS.resultContributionCount));
  }, 120_000);

  it('docs/WIRE_FORMAT.md quotes the published values', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'WIRE_FORMAT.md'), 'utf8');
    const quoted = (value: string | number, what: string) => assert.ok(doc.includes(String(value)), `WIRE_FORMAT.md quotes ${what} ${value}`);
    const grouped = (n: number) => n.toLocaleString('en-US');
    type Preset = { dataPrimes: string[]; specialPrime: string | null; dataParmsIdHex: string; keyParmsIdHex: string; ciphertextBytes: number; publicKeyBytes: { seeded: number; full: number } };
    for (const [name, preset] of Object.entries<Preset>(published.presets)) {
      for (const prime of preset.dataPrimes) quoted(prime, `${name} data prime`);
      if (preset.specialPrime) quoted(preset.specialPrime, `${name} special prime`);
      quoted(preset.dataParmsIdHex, `${name} data parms_id`);
      if (preset.keyParmsIdHex !== preset.dataParmsIdHex) quoted(preset.keyParmsIdHex, `${name} key parms_id`);
      quoted(`${grouped(preset.ciphertextBytes)} | ${grouped(preset.publicKeyBytes.seeded)} / ${grouped(preset.publicKeyBytes.full)}`, `${name} sizes`);
    }
    quoted(published.presets[DEFAULT_PRESET_NAME].nttRoots[0], 'the default ψ');
    quoted(published.coefficientEncoding.nttBlockSha256, 'the NTT block hash');
    for (const i of [0, 2, 4, 5]) quoted(published.coefficientEncoding.integers[i], 'an encoded integer');
    quoted(published.uploadStream.trailerSha256, 'the upload trailer');
    quoted(published.contributorsDigest.sha256, 'the contributors digest');
    quoted(published.roundAttestation.keyId, 'the test key id');
    quoted(`${published.roundAttestation.statementHex.length / 2} bytes`, 'the statement length');
    quoted(published.roundAttestation.signatureHex.slice(0, 16), 'the signature');
  }, 120_000);

  it('the proto states the update-id grammar the server enforces', () => {
    const proto = readFileSync(join(REPO_ROOT, 'proto', 'secagg', 'client', 'v1', 'client_service.proto'), 'utf8');
    const stated = /idempotency key, 1-64 characters of \[([^\]]+)\]/.exec(proto)?.[1];
    assert.ok(stated, 'UpdateHeader.update_id states its characters');
    assert.equal(`^[${stated}]{1,64}$`, UPDATE_ID.source);
  }, 120_000);

  it('public key sizes: seeded 113 + 8·k·N + 81, full 113 + 16·k·N, k counting the special prime', () => {
    for (const [name, p] of Object.entries<{ polyModulusDegree: number; dataPrimes: string[]; specialPrime: string | null; publicKeyBytes: { seeded: number; full: number } }>(published.presets)) {
      const k = p.dataPrimes.length + (p.specialPrime ? 1 : 0);
      const n = p.polyModulusDegree;
      assert.deepEqual(p.publicKeyBytes, { seeded: 113 + 8 * k * n + 81, full: 113 + 16 * k * n });
      assert.deepEqual(publicKeyByteLengths(name as PresetName), p.publicKeyBytes);
      assert.equal(published.publicKeyHeaders[name].seededLength, p.publicKeyBytes.seeded);
    }
  }, 120_000);
});
