/**
 * The SEAL WASM heap never shrinks and caps at 4 GiB (DESIGN.md §6): a loop
 * of encryptions and decryptions must not grow it. The control loop leaks on
 * purpose (objects not deleted) to show the gauge would catch a leak.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CkksEngine, sealInternals } from './engine.js';
import type { Encoding } from './presets.js';
import { sealHeapBytes } from './seal-runtime.js';

const MiB = 1024 * 1024;

describe('WASM heap', () => {
  for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
    it(`does not grow over 300 encrypt/decrypt calls, keygens and encryptor churn (${encoding})`, async () => {
      using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding, scaleBits: 40 });
      const x = Float64Array.from({ length: encoding === 'slots' ? 1024 : 2048 }, (_, i) => i / 100);
      const cycle = (): void => {
        const keys = engine.generateKeyPair();
        using enc = engine.createEncryptor(keys.publicKey);
        using dec = engine.createDecryptor(keys.secretKey);
        for (let i = 0; i < 30; i++) dec.decrypt(enc.encrypt(x));
      };
      for (let i = 0; i < 3; i++) cycle(); // warm SEAL's memory pools
      const before = sealHeapBytes()!;
      for (let i = 0; i < 10; i++) cycle();
      const grown = sealHeapBytes()! - before;
      assert.ok(grown <= 1 * MiB, `heap grew by ${grown} bytes`);
    });
  }

  it('control: leaking 200 ciphertexts is visible to the gauge', async () => {
    using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const { seal, context } = sealInternals(engine);
    const keys = engine.generateKeyPair();
    const enc = engine.createEncryptor(keys.publicKey);
    const bytes = enc.encrypt(new Float64Array([1]));
    const before = sealHeapBytes()!;
    const leaked = [];
    for (let i = 0; i < 200; i++) {
      const ct = new seal.Ciphertext();
      ct.loadFromArray(context, bytes);
      leaked.push(ct);
    }
    const grown = sealHeapBytes()! - before;
    for (const ct of leaked) ct.delete();
    assert.ok(grown >= 3 * MiB, `a 200 × 32 KB leak grew the heap by only ${grown} bytes`);
  });
});
