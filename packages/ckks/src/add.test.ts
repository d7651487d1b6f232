import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import fc from 'fast-check';
import { addCiphertextInto, addDataView } from './add.js';
import { checkCoefficientsDataView } from './layout-check.js';
import { CkksEngine } from './engine.js';
import { CkksError } from './errors.js';
import { ciphertextFormat } from './format.js';
import type { CiphertextFormat } from './format.js';
import type { Encoding } from './presets.js';
import { estimateMaxError } from './scale.js';
import { maxAbsDiff, sealAdd, seededRandom } from './testing.js';
import { validateCiphertext } from './validate.js';

/** A ciphertext-shaped buffer of `format` whose coefficients are `coeff(poly, prime, i)`. */
function synthetic(format: CiphertextFormat, coeff: (poly: number, j: number, i: number) => bigint): Uint8Array {
  const bytes = new Uint8Array(format.byteLength);
  bytes.set(Buffer.from(format.headerHex, 'hex'));
  const v = new DataView(bytes.buffer);
  const n = format.polyModulusDegree;
  const k = format.moduli.length;
  for (let p = 0; p < 2; p++) for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) v.setBigUint64(113 + 8 * ((p * k + j) * n + i), coeff(p, j, i), true);
  return bytes;
}
function coeffs(format: CiphertextFormat, bytes: Uint8Array): bigint[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: bigint[] = [];
  for (let o = format.dataOffset; o < bytes.length; o += 8) out.push(v.getBigUint64(o, true));
  return out;
}
const rand = seededRandom(99);
function randomBelow(q: bigint): bigint {
  const shift = BigInt(64 - q.toString(2).length);
  for (;;) {
    const x = ((BigInt(Math.floor(rand() * 2 ** 32)) << 32n) | BigInt(Math.floor(rand() * 2 ** 32))) >> shift;
    if (x < q) return x;
  }
}

describe('addCiphertextInto (pure arithmetic)', () => {
  for (const preset of ['n2048-q54', 'n8192-q60x4'] as const) {
    it(`equals (a + b) mod q_j for every coefficient, including the edges (${preset})`, () => {
      const f = ciphertextFormat({ preset, encoding: 'slots', scaleBits: 40 });
      const qs = f.moduli.map((m) => BigInt(m.decimal));
      const edge = (q: bigint, i: number): bigint => [0n, 1n, q - 1n, q - 2n, q / 2n, (q + 1n) / 2n, 0xffffffffn, 0x100000000n][i % 8]! % q;
      const a = synthetic(f, (_p, j, i) => (i < 64 ? edge(qs[j]!, i) : randomBelow(qs[j]!)));
      const b = synthetic(f, (_p, j, i) => (i < 64 ? edge(qs[j]!, i >> 3) : randomBelow(qs[j]!)));
      const cb = coeffs(f, b);
      const want = coeffs(f, a).map((x, idx) => (x + cb[idx]!) % qs[Math.floor(idx / f.polyModulusDegree) % qs.length]!);
      const portable = a.slice();
      addCiphertextInto(f, a, b);
      assert.deepEqual(coeffs(f, a), want);
      addDataView(f, portable, b); // the big-endian fallback computes the same
      assert.deepEqual(portable, a);
      assert.equal(checkCoefficientsDataView(new DataView(a.buffer), 113, 2, f.moduli, f.polyModulusDegree, String), undefined);
      new DataView(portable.buffer).setBigUint64(113 + 8 * 5, qs[0]!, true);
      assert.equal(checkCoefficientsDataView(new DataView(portable.buffer), 113, 2, f.moduli, f.polyModulusDegree, (p) => `polynomial ${p}`), `coefficient 5 of polynomial 0${qs.length > 1 ? ' (prime 0)' : ''} >= q`);
      assert.equal(Buffer.from(a.subarray(0, 113)).toString('hex'), f.headerHex, 'header untouched');
    });
  }

  it('property: same result at any byteOffset of acc and addend, and for acc === addend', () => {
    const f = ciphertextFormat({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const q = BigInt(f.moduli[0]!.decimal);
    const a = synthetic(f, () => randomBelow(q));
    const b = synthetic(f, () => randomBelow(q));
    const ref = a.slice();
    addCiphertextInto(f, ref, b);
    fc.assert(
      fc.property(fc.nat(7), fc.nat(7), (sa, sb) => {
        const A = new Uint8Array(f.byteLength + 8);
        const B = new Uint8Array(f.byteLength + 8);
        A.set(a, sa);
        B.set(b, sb);
        const acc = A.subarray(sa, sa + f.byteLength);
        addCiphertextInto(f, acc, B.subarray(sb, sb + f.byteLength));
        return Buffer.compare(acc, ref) === 0 && A.subarray(0, sa).every((x) => x === 0);
      }),
      { numRuns: 64 },
    );
    const twice = a.slice();
    addCiphertextInto(f, twice, twice);
    const want = coeffs(f, a).map((x) => (2n * x) % q);
    assert.deepEqual(coeffs(f, twice), want);
  });

  it('rejects mismatched lengths without touching acc', () => {
    const f = ciphertextFormat({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const acc = synthetic(f, () => 5n);
    const before = acc.slice();
    assert.throws(() => addCiphertextInto(f, acc, acc.subarray(1)), (e: unknown) => e instanceof CkksError && e.code === 'invalid_ciphertext');
    assert.deepEqual(acc, before);
  });
});

for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
  describe(`sums of encrypted vectors (${encoding})`, () => {
    const params = { preset: 'n2048-q54', encoding, scaleBits: 40 } as const;
    let engine: CkksEngine;
    beforeAll(async () => {
      engine = await CkksEngine.create(params);
    });
    afterAll(() => engine.dispose());

    it('K = 7 ciphertexts: bytes equal SEAL Evaluator.add, decoded sum equals the plaintext sum', () => {
      const { publicKey, secretKey } = engine.generateKeyPair();
      const enc = engine.createEncryptor(publicKey);
      const dec = engine.createDecryptor(secretKey);
      const per = encoding === 'slots' ? 1024 : 2048;
      const rand = seededRandom(7);
      const K = 7;
      const sum = new Float64Array(per);
      let acc: Uint8Array | undefined;
      let sealAcc: Uint8Array | undefined;
      for (let c = 0; c < K; c++) {
        const x = Float64Array.from({ length: per }, () => rand() * 2 - 1);
        for (let i = 0; i < per; i++) sum[i]! += x[i]!;
        const ct = enc.encrypt(x);
        if (acc === undefined || sealAcc === undefined) {
          acc = ct.slice();
          sealAcc = ct.slice();
          continue;
        }
        addCiphertextInto(engine.format, acc, ct);
        sealAcc = sealAdd(engine, sealAcc, ct);
        assert.deepEqual(acc, sealAcc, `after ${c + 1} summands`);
      }
      assert.ok(acc !== undefined);
      assert.deepEqual(validateCiphertext(engine.format, acc), { ok: true });
      const got = dec.decrypt(acc);
      const err = maxAbsDiff(got, sum, per);
      assert.ok(err <= estimateMaxError(params, K, 1), `max error ${err}`);
      assert.ok(err > 0, 'CKKS is approximate: an exact result would mean nothing was encrypted');
    });
  });
}
