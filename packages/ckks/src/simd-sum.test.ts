import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { addCiphertextInto } from './add.js';
import { ciphertextFormat, type CiphertextFormat } from './format.js';
import { CiphertextAccumulator } from './simd-sum.js';
import { seededRandom } from './testing.js';

const rand = seededRandom(7);

/** A valid-shaped ciphertext of `format`: its header, and coefficients < q_j (the edges first, then random). */
function randomCiphertext(format: CiphertextFormat): Uint8Array {
  const bytes = new Uint8Array(format.byteLength);
  bytes.set(Buffer.from(format.headerHex, 'hex'));
  const view = new DataView(bytes.buffer);
  const n = format.polyModulusDegree;
  const qs = format.moduli.map((m) => BigInt(m.decimal));
  for (let p = 0; p < 2; p++) {
    for (let j = 0; j < qs.length; j++) {
      const q = qs[j]!;
      const edges = [0n, 1n, q - 1n, q - 2n, q / 2n, (q + 1n) / 2n];
      for (let i = 0; i < n; i++) {
        const random = ((BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32))) % q;
        view.setBigUint64(format.dataOffset + 8 * ((p * qs.length + j) * n + i), i < edges.length && rand() < 0.5 ? edges[i]! : random, true);
      }
    }
  }
  return bytes;
}

describe('CiphertextAccumulator (WebAssembly SIMD addition)', () => {
  for (const preset of ['n2048-q54', 'n4096-q60p49', 'n8192-q60x4'] as const) {
    it(`sums ciphertexts bit-identically to addCiphertextInto, range by range (${preset})`, () => {
      const f = ciphertextFormat({ preset, encoding: 'coefficients', scaleBits: 40 });
      const count = 3;
      const addends = Array.from({ length: 4 }, () => Array.from({ length: count }, () => randomCiphertext(f)));
      const want = addends[0]!.map((ct) => ct.slice());
      for (const update of addends.slice(1)) update.forEach((ct, i) => addCiphertextInto(f, want[i]!, ct));

      const acc = new CiphertextAccumulator(f, count);
      for (const update of addends) {
        // One block of ciphertexts [1, 3), then ciphertext 0 alone: ranges in any order.
        const block = acc.scratch(2 * f.byteLength);
        block.set(update[1]!, 0);
        block.set(update[2]!, f.byteLength);
        acc.addScratch(1, 2);
        acc.scratch(f.byteLength).set(update[0]!);
        acc.addScratch(0, 1);
      }
      for (let i = 0; i < count; i++) assert.deepEqual(acc.ciphertext(i), want[i]!, `ciphertext ${i}`);
      assert.deepEqual(acc.bytes(), new Uint8Array(Buffer.concat(want)));
    });
  }

  it('grows its scratch on demand, keeps the sum, and loads a checkpoint', () => {
    const f = ciphertextFormat({ preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 40 });
    const acc = new CiphertextAccumulator(f, 2);
    const a = [randomCiphertext(f), randomCiphertext(f)];
    acc.scratch(2 * f.byteLength).set(Buffer.concat(a));
    acc.addScratch(0, 2);
    const before = acc.bytes().slice();
    assert.deepEqual(before, new Uint8Array(Buffer.concat(a)), 'zero + a = a, headers included');
    acc.scratch(100 * f.byteLength); // grows the memory
    assert.deepEqual(acc.bytes(), before);

    const other = new CiphertextAccumulator(f, 2);
    other.load(before);
    assert.deepEqual(other.bytes(), before);
    assert.throws(() => other.load(before.subarray(1)), /a sum of 2 ciphertexts is/);
    assert.throws(() => other.addScratch(1, 2), /outside the sum's 2 ciphertexts/);
  });

  it('adds records from any offset of its scratch (a fold reads the next block while it adds this one)', () => {
    const f = ciphertextFormat({ preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 40 });
    const a = [randomCiphertext(f), randomCiphertext(f)];
    const fromStart = new CiphertextAccumulator(f, 2, 3 * f.byteLength);
    fromStart.scratch(2 * f.byteLength).set(Buffer.concat(a));
    fromStart.addScratch(0, 2);
    const fromOffset = new CiphertextAccumulator(f, 2, 3 * f.byteLength);
    fromOffset.scratch(f.byteLength, 0).fill(0xff); // another block's bytes: must not be added
    fromOffset.scratch(2 * f.byteLength, f.byteLength).set(Buffer.concat(a));
    fromOffset.addScratch(0, 2, f.byteLength);
    assert.deepEqual(fromOffset.bytes(), fromStart.bytes());
    const scratchBytes = 3 * f.byteLength;
    assert.throws(() => fromOffset.addScratch(0, 2, scratchBytes * 4), /do not fit the scratch/);
  });
});
