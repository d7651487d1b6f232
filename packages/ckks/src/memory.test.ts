/**
 * The SEAL WASM heap never shrinks and caps at 4 GiB (DESIGN.md §6): loops of
 * encryptions and decryptions must not grow it.
 *
 * The gauge is the heap's capacity, not its use, so a leak only shows once it
 * exceeds the free space. Each loop therefore runs enough calls that leaking
 * even one ciphertext per call would exceed the whole heap (asserted), and the
 * control test leaks on purpose to show the gauge then moves. The heap starts
 * fresh: jest gives each test file its own module registry, so this file
 * instantiates SEAL's WebAssembly module anew.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CkksEngine, sealInternals } from './engine.js';
import type { Encoding } from './presets.js';
import { sealHeapBytes } from './seal-runtime.js';

const MiB = 1024 * 1024;

describe('WASM heap', () => {
  for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
    it(`does not grow over 600 encrypt/decrypt calls with keygens and encryptor churn (${encoding})`, async () => {
      using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding, scaleBits: 40 });
      const x = Float64Array.from({ length: encoding === 'slots' ? 1024 : 2048 }, (_, i) => i / 100);
      let calls = 0;
      const cycle = (): void => {
        const keys = engine.generateKeyPair();
        using enc = engine.createEncryptor(keys.publicKey);
        using dec = engine.createDecryptor(keys.secretKey);
        for (let i = 0; i < 30; i++, calls++) dec.decrypt(enc.encrypt(x));
      };
      for (let i = 0; i < 2; i++) cycle(); // warm SEAL's memory pools
      const before = sealHeapBytes()!;
      calls = 0;
      for (let i = 0; i < 20; i++) cycle();
      const grown = sealHeapBytes()! - before;
      assert.ok(calls * engine.format.byteLength > before + 2 * MiB, 'a one-ciphertext-per-call leak would exceed the heap');
      assert.ok(grown <= 1 * MiB, `heap grew by ${grown} bytes`);
    });
  }

  it('control: leaking ciphertexts beyond the free space is visible to the gauge', async () => {
    using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const { seal, context } = sealInternals(engine);
    const enc = engine.createEncryptor(engine.generateKeyPair().publicKey);
    const bytes = enc.encrypt(new Float64Array([1]));
    const before = sealHeapBytes()!;
    const leaked = [];
    try {
      for (let i = 0; i * bytes.length < before + 8 * MiB; i++) {
        const ct = new seal.Ciphertext();
        leaked.push(ct);
        ct.loadFromArray(context, bytes);
      }
      const grown = sealHeapBytes()! - before;
      assert.ok(grown >= 4 * MiB, `leaking ${leaked.length} ciphertexts grew the heap by only ${grown} bytes`);
    } finally {
      for (const ct of leaked) ct.delete();
    }
  });
});
