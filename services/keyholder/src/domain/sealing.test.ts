import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCipheriv, randomBytes } from 'node:crypto';
import { KeySealer } from './sealing.js';
import { KeyStore } from './key-store.js';

const kek = () => randomBytes(32).toString('base64');

describe('KeySealer', () => {
  it('seals under the current KEK, binds the round id, and refuses tampering', () => {
    const sealer = KeySealer.fromBase64(kek());
    const secret = randomBytes(100);
    const sealed = sealer.seal(secret, 'r-1');
    assert.deepEqual(sealer.unseal(sealed, 'r-1'), secret);
    assert.throws(() => sealer.unseal(sealed, 'r-2'), /unable to authenticate|Unsupported state/);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    assert.throws(() => sealer.unseal(flipped, 'r-1'));
    assert.equal(sealer.needsReseal(sealed), false);
  });

  it('rotates: old blobs open with the previous KEK, are flagged, and re-seal under the new one', () => {
    const [oldKek, newKek] = [kek(), kek()];
    const oldSealer = KeySealer.fromBase64(oldKek);
    const secret = randomBytes(64);
    const sealedOld = oldSealer.seal(secret, 'r-9');
    assert.throws(() => KeySealer.fromBase64(newKek).unseal(sealedOld, 'r-9'), /not configured/);
    const rotating = KeySealer.fromBase64(newKek, [oldKek]);
    assert.equal(rotating.needsReseal(sealedOld), true);
    assert.deepEqual(rotating.unseal(sealedOld, 'r-9'), secret);
    const resealed = rotating.seal(rotating.unseal(sealedOld, 'r-9'), 'r-9');
    assert.equal(rotating.needsReseal(resealed), false);
    assert.deepEqual(KeySealer.fromBase64(newKek).unseal(resealed, 'r-9'), secret, 'the old KEK is no longer needed');
  });

  it('still opens version-1 blobs (no KEK id) with any configured KEK', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from('r-v1'));
    const body = Buffer.concat([cipher.update(Buffer.from('secret')), cipher.final()]);
    const v1 = Buffer.concat([Buffer.of(1), iv, cipher.getAuthTag(), body]);
    const sealer = KeySealer.fromBase64(kek(), [key.toString('base64')]);
    assert.equal(sealer.unseal(v1, 'r-v1').toString(), 'secret');
    assert.equal(sealer.needsReseal(v1), true);
  });

  it('KeyStore.resealSecretKeys re-seals every stored key once', () => {
    const [oldKek, newKek] = [kek(), kek()];
    const store = new KeyStore(mkdtempSync(join(tmpdir(), 'secagg-kek-')));
    const oldSealer = KeySealer.fromBase64(oldKek);
    for (const roundId of ['a', 'b']) {
      store.insertRoundKey({ roundId, config: new Uint8Array(1), ckks: new Uint8Array(1), publicKey: new Uint8Array(1), sealedSecretKey: oldSealer.seal(Buffer.from(roundId), roundId), createdMs: 1 });
    }
    const rotating = KeySealer.fromBase64(newKek, [oldKek]);
    const reseal = (roundId: string, sealed: Uint8Array) => rotating.seal(rotating.unseal(sealed, roundId), roundId);
    assert.equal(store.resealSecretKeys((s) => rotating.needsReseal(s), reseal), 2);
    assert.equal(store.resealSecretKeys((s) => rotating.needsReseal(s), reseal), 0);
    const onlyNew = KeySealer.fromBase64(newKek);
    const claim = { contributorsSha256: new Uint8Array(32), sumSha256: new Uint8Array(32) };
    const sealed = store.chargeRelease('a', claim, { privacyGroup: 'g', roundId: 'a', noiseMultiplier: 1, samplingRate: 1, epsilon: 1, delta: 1e-5, chargedMs: 1 });
    assert.equal(onlyNew.unseal(sealed!, 'a').toString(), 'a');
    store.close();
  });
});
