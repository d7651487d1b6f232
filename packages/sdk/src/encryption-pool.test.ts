import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { CkksEngine, chooseScaleBits, decryptVector, type CkksParams } from '@secagg/ckks';
import { EncryptionPool } from './encryption-pool.js';

describe('EncryptionPool', () => {
  it('encrypts on worker threads and yields ciphertexts in index order', async () => {
    const params: CkksParams = { preset: 'n2048-q54', encoding: 'coefficients', scaleBits: chooseScaleBits('n2048-q54', 'coefficients', 10, 1) };
    using engine = await CkksEngine.create(params);
    const { publicKey, secretKey } = engine.generateKeyPair();
    const values = Float64Array.from({ length: 10_001 }, (_, i) => Math.sin(i) / 200);
    const pool = new EncryptionPool(2);
    const ciphertexts: Uint8Array[] = [];
    try {
      for await (const ciphertext of pool.encrypt(params, publicKey, values, 3)) ciphertexts.push(ciphertext);
    } finally {
      await pool.close();
    }
    assert.equal(ciphertexts.length, Math.ceil(values.length / 2048));
    using decryptor = engine.createDecryptor(secretKey);
    const decrypted = decryptVector(decryptor, params, ciphertexts, values.length);
    for (let i = 0; i < values.length; i++) assert.ok(Math.abs(decrypted[i]! - values[i]!) < 1e-6, `value ${i}`);
  });
});
