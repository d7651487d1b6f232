/**
 * Range folds over real ciphertexts (node-seal) in a real filesystem
 * ciphertext store: two ranges folded separately, one of them crashing after
 * a checkpoint and resuming from it, give exactly the sum the plain addition
 * gives, and it decrypts to the sum of the updates.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addCiphertextInto, ciphertextFormat, CkksEngine, decryptVector, encryptVector, type CkksParams } from '@secagg/ckks';
import { FsCiphertextStore } from '@secagg/ciphertext-store';
import { rangesOf } from '@secagg/store';
import { checkpointName, RangeFolder } from './range-folder.js';

const PARAMS: CkksParams = { preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 30 };
const LENGTH = 2_048 * 4 + 100; // 5 ciphertexts, the last one short
const UPDATES = 4;

describe('range folds (real SEAL ciphertexts, filesystem store)', () => {
  let dir: string;
  let engine: CkksEngine;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'range-fold-'));
    engine = await CkksEngine.create(PARAMS);
  }, 120_000);
  afterAll(() => {
    engine?.[Symbol.dispose]();
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('folds ranges separately, resumes after a crash from a checkpoint, and sums exactly', async () => {
    const store = await FsCiphertextStore.open(dir);
    const format = ciphertextFormat(PARAMS);
    const { publicKey, secretKey } = engine.generateKeyPair();
    using encryptor = engine.createEncryptor(publicKey);
    const updates = Array.from({ length: UPDATES }, (_, u) => Float64Array.from({ length: LENGTH }, (_, i) => Math.sin(i * (u + 1)) / 8));
    const ciphertexts = updates.map((values) => [...encryptVector(encryptor, PARAMS, values)]);
    for (let u = 0; u < UPDATES; u++) await store.put({ roundId: 'r', name: `u${u}` }, Buffer.concat(ciphertexts[u]!));
    const count = ciphertexts[0]!.length;
    assert.equal(count, 5);

    // The plain sum, ciphertext by ciphertext.
    const want = ciphertexts[0]!.map((ct) => ct.slice());
    for (const update of ciphertexts.slice(1)) update.forEach((ct, i) => addCiphertextInto(format, want[i]!, ct));

    const [first, second] = rangesOf(count, 3);
    // Range 0: folded straight through, in blocks of one ciphertext.
    const a = await RangeFolder.resume('r', first!, format, store, { folded: 0, checkpoint: '' }, format.byteLength);
    for (let u = 0; u < UPDATES; u++) await a.fold(`u${u}`);
    // Range 1: two updates, a checkpoint, one more update, then the process dies (the in-memory work is lost).
    const b = await RangeFolder.resume('r', second!, format, store, { folded: 0, checkpoint: '' });
    await b.fold('u0');
    await b.fold('u1');
    const checkpoint = await b.writeCheckpoint();
    assert.equal(checkpoint, checkpointName(1, 2));
    await b.fold('u2');
    // A new owner resumes from the recorded checkpoint and folds exactly what it lacks.
    const c = await RangeFolder.resume('r', second!, format, store, { folded: 2, checkpoint });
    assert.equal(c.folded, 2);
    for (let u = c.folded; u < UPDATES; u++) await c.fold(`u${u}`);
    assert.equal(c.folded, UPDATES);

    const sum = [...Array.from({ length: first!.count }, (_, i) => a.ciphertext(i)), ...Array.from({ length: second!.count }, (_, i) => c.ciphertext(i))];
    sum.forEach((ct, i) => assert.deepEqual(ct, want[i]!, `ciphertext ${i}`));

    using decryptor = engine.createDecryptor(secretKey);
    const values = decryptVector(decryptor, PARAMS, sum, LENGTH);
    let maxError = 0;
    for (let i = 0; i < LENGTH; i++) maxError = Math.max(maxError, Math.abs(values[i]! - updates.reduce((s, u) => s + u[i]!, 0)));
    assert.ok(maxError < 1e-4, `max error ${maxError}`);

    await assert.rejects(RangeFolder.resume('r', second!, format, store, { folded: 3, checkpoint: checkpointName(1, 3) }), /checkpoint ckpt-r1-n3 of 3 updates is missing/);
  }, 120_000);
});
