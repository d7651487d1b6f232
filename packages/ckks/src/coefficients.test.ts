/**
 * Coefficient encoding (issue "Half the bytes per value"): N values per
 * ciphertext, ≤ 16.1 bytes per value on n4096-q54, max abs error ≤ 1e-5·C
 * summing 1,000 clients.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { addCiphertextInto } from './add.js';
import { readCenteredCoefficients, writeCoefficientResidues } from './coeff-codec.js';
import { CkksEngine } from './engine.js';
import { ciphertextFormat } from './format.js';
import { ciphertextByteLength, valuesPerCiphertext } from './presets.js';
import type { CkksParams } from './presets.js';
import { chooseScaleBits, estimateMaxError } from './scale.js';
import { maxAbsDiff, seededRandom } from './testing.js';
import { decryptVector, encryptVector } from './vector.js';

describe('coefficient codec (pure)', () => {
  const f = ciphertextFormat({ preset: 'n8192-q60x4', encoding: 'coefficients', scaleBits: 30 });
  const primes = f.moduli.map((m) => BigInt(m.decimal)); // one 60-bit and two 40-bit primes

  it('property: residues equal round(x·scale) mod q_j (BigInt reference), and centring the 60-bit residues inverts it', () => {
    const n = 16;
    const value = fc.oneof(
      fc.double({ min: -(2 ** 22), max: 2 ** 22, noNaN: true }),
      fc.constantFrom(0, -0, 0.5, -0.5, 1.5, -1.5, 2 ** 23 - 2 ** -30, -(2 ** 23) + 2 ** -30),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: n }), (xs) => {
        const bytes = new Uint8Array(8 * n * primes.length);
        const view = new DataView(bytes.buffer);
        writeCoefficientResidues(view, 0, xs, 2 ** 30, f.moduli, n);
        for (let j = 0; j < primes.length; j++) {
          for (let i = 0; i < n; i++) {
            const v = BigInt(i < xs.length ? Math.round(xs[i]! * 2 ** 30) : 0);
            const want = ((v % primes[j]!) + primes[j]!) % primes[j]!;
            assert.equal(view.getBigUint64(8 * (j * n + i), true), want, `x=${xs[i]} prime ${j}`);
          }
        }
        const out = new Float64Array(n);
        readCenteredCoefficients(view, 0, f.moduli[0]!, 2 ** 30, out, n);
        for (let i = 0; i < n; i++) assert.equal(out[i], i < xs.length ? Math.round(xs[i]! * 2 ** 30) / 2 ** 30 + 0 : 0); // + 0: -0 decodes as 0
        return true;
      }),
      { numRuns: 200 },
    );
  });

  it('centres at (q+1)/2 like SEAL: q-1 is -1, (q-1)/2 stays positive', () => {
    const m = ciphertextFormat({ preset: 'n4096-q54', encoding: 'coefficients', scaleBits: 1 }).moduli[0]!;
    const q = BigInt(m.decimal);
    const view = new DataView(new ArrayBuffer(32));
    [q - 1n, (q - 1n) / 2n, (q + 1n) / 2n, 0n].forEach((x, i) => view.setBigUint64(8 * i, x, true));
    const out = new Float64Array(4);
    readCenteredCoefficients(view, 0, m, 1, out, 4);
    assert.deepEqual([...out], [-1, Number((q - 1n) / 2n), -Number((q - 1n) / 2n), 0]);
  });
});

describe('coefficient encoding with SEAL', () => {
  it('carries N values per ciphertext at ≤ 16.1 bytes per value on n4096-q54', () => {
    const p: CkksParams = { preset: 'n4096-q54', encoding: 'coefficients', scaleBits: 40 };
    assert.equal(valuesPerCiphertext(p), 4096);
    assert.ok(ciphertextByteLength(p) / valuesPerCiphertext(p) <= 16.1);
  });

  it('1,000 clients at clip norm C on n4096-q54: max abs error ≤ 1e-5·C, edges ±C sum without wrapping', async () => {
    const C = 0.75;
    const K = 1000;
    const scaleBits = chooseScaleBits('n4096-q54', 'coefficients', K, C);
    const params: CkksParams = { preset: 'n4096-q54', encoding: 'coefficients', scaleBits };
    using engine = await CkksEngine.create(params);
    const keys = engine.generateKeyPair();
    using enc = engine.createEncryptor(keys.publicKey);
    using dec = engine.createDecryptor(keys.secretKey);
    const n = 4096;
    // 200 distinct clients, each ciphertext added 5 times: 1,000 summands. Repeating a
    // ciphertext repeats its noise (5× per client instead of √5×), so this is harsher
    // than 1,000 independent clients.
    const distinct = 200;
    const repeat = K / distinct;
    const rand = seededRandom(5);
    const sum = new Float64Array(n);
    let acc: Uint8Array | undefined;
    for (let c = 0; c < distinct; c++) {
      const x = Float64Array.from({ length: n }, () => (rand() * 2 - 1) * C);
      x[c] = C; // every client has a coordinate at exactly +C and one at -C
      x[n - 1 - c] = -C;
      const ct = enc.encrypt(x);
      for (let r = 0; r < repeat; r++) {
        for (let i = 0; i < n; i++) sum[i]! += x[i]!;
        if (acc === undefined) acc = ct.slice();
        else addCiphertextInto(engine.format, acc, ct);
      }
    }
    const err = maxAbsDiff(dec.decrypt(acc!), sum);
    assert.ok(err <= 1e-5 * C, `max error ${err} > 1e-5·C`);
    assert.ok(err < 1e-7, `max error ${err}`);

    // Worst case for wrapping: every client at +C (or -C) in every coordinate.
    for (const edge of [C, -C]) {
      const ct = enc.encrypt(new Float64Array(n).fill(edge));
      const total = ct.slice();
      for (let r = 1; r < K; r++) addCiphertextInto(engine.format, total, ct);
      const got = dec.decrypt(total);
      assert.ok(maxAbsDiff(got, new Float64Array(n).fill(K * edge)) < 1e-5 * C, `sum of ${K} × ${edge}`);
    }
  });

  it('round-trips on the multi-prime preset (decodes from the 60-bit prime)', async () => {
    const params: CkksParams = { preset: 'n8192-q60x4', encoding: 'coefficients', scaleBits: 40 };
    using engine = await CkksEngine.create(params);
    const keys = engine.generateKeyPair();
    using enc = engine.createEncryptor(keys.publicKey);
    using dec = engine.createDecryptor(keys.secretKey);
    const x = Float64Array.from({ length: 8192 + 100 }, (_, i) => Math.sin(i) * 100);
    const cts = [...encryptVector(enc, params, x)];
    assert.equal(cts.length, 2);
    assert.equal(cts[0]!.length, 393_329);
    const a = cts[0]!.slice();
    addCiphertextInto(engine.format, a, cts[0]!);
    const y = decryptVector(dec, params, [a, cts[1]!], x.length);
    const want = x.map((v, i) => (i < 8192 ? 2 * v : v));
    assert.ok(maxAbsDiff(y, want) <= estimateMaxError(params, 2, 100));
  });
});
