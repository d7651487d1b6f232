import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CkksError } from './errors.js';
import { ciphertextFormat } from './format.js';
import { publicKeyByteLengths, secretKeyByteLength } from './key-format.js';
import { ciphertextByteLength, ciphertextCount, DEFAULT_PRESET, PRESETS, valuesPerCiphertext } from './presets.js';
import type { CkksParams } from './presets.js';

const b: CkksParams = { preset: 'n4096-q54', encoding: 'slots', scaleBits: 40 };

describe('presets', () => {
  it('has the documented parameter sets and default', () => {
    assert.equal(DEFAULT_PRESET, 'n4096-q60p49');
    assert.deepEqual(PRESETS['n4096-q60p49'].coeffModulusBits, [60, 49]);
    assert.deepEqual(PRESETS['n8192-q60x4'].coeffModulusBits, [60, 40, 40, 60]);
    assert.equal(PRESETS['n2048-q54'].polyModulusDegree, 2048);
    for (const p of Object.values(PRESETS)) assert.equal(p.securityBits, 128);
  });

  it('computes exact ciphertext sizes (REFERENCE.md table)', () => {
    assert.equal(ciphertextByteLength(b), 65_649);
    assert.equal(ciphertextByteLength({ ...b, preset: 'n2048-q54' }), 32_881);
    assert.equal(ciphertextByteLength({ ...b, preset: 'n8192-q60x4' }), 393_329);
    assert.equal(ciphertextByteLength({ ...b, encoding: 'coefficients' }), 65_649);
    // The default carries only its 60-bit data prime: the same bytes as n4096-q54.
    assert.equal(ciphertextByteLength({ preset: 'n4096-q60p49', encoding: 'coefficients', scaleBits: 40 }), 65_649);
    assert.equal(ciphertextFormat(b).byteLength, 65_649);
  });

  it('counts values and ciphertexts per encoding', () => {
    assert.equal(valuesPerCiphertext(b), 2048);
    assert.equal(valuesPerCiphertext({ ...b, encoding: 'coefficients' }), 4096);
    assert.equal(ciphertextCount(b, 0), 0);
    assert.equal(ciphertextCount(b, 2048), 1);
    assert.equal(ciphertextCount(b, 2049), 2);
    assert.equal(ciphertextCount({ ...b, encoding: 'coefficients' }, 10_000), 3);
    // bytes per value: 32 for slots, 16 for coefficients at N=4096
    assert.ok(ciphertextByteLength(b) / valuesPerCiphertext({ ...b, encoding: 'coefficients' }) <= 16.1);
  });

  it('rejects bad parameters with invalid_params', () => {
    const bad: unknown[] = [
      { ...b, preset: 'n1024' },
      { ...b, encoding: 'ntt' },
      { ...b, scaleBits: 0 },
      { ...b, scaleBits: 53 }, // SEAL: log2(scale) + 1 must be < 54 bits
      { ...b, scaleBits: 40.5 },
      null,
    ];
    for (const p of bad) {
      assert.throws(() => valuesPerCiphertext(p as CkksParams), (e: unknown) => e instanceof CkksError && e.code === 'invalid_params');
    }
    assert.equal(valuesPerCiphertext({ ...b, scaleBits: 52 }), 2048);
    assert.equal(valuesPerCiphertext({ ...b, preset: 'n8192-q60x4', scaleBits: 138 }), 4096);
    assert.throws(() => ciphertextCount(b, -1), CkksError);
    assert.throws(() => ciphertextCount(b, 1.5), CkksError);
  });

  it('knows key sizes (seeded public key 32,962 B for n4096-q54)', () => {
    assert.deepEqual(publicKeyByteLengths('n4096-q54'), { seeded: 32_962, full: 65_649 });
    assert.equal(secretKeyByteLength('n4096-q54'), 32_856);
    assert.deepEqual(publicKeyByteLengths('n8192-q60x4'), { seeded: 262_338, full: 524_401 });
  });
});

describe('ciphertextFormat', () => {
  it('is plain data: survives JSON and structuredClone unchanged', () => {
    const f = ciphertextFormat(b);
    assert.deepEqual(JSON.parse(JSON.stringify(f)), { ...f, moduli: f.moduli.map((m) => ({ ...m })) });
    assert.deepEqual(structuredClone(f), JSON.parse(JSON.stringify(f)));
  });

  it('records the 113-byte prefix: magic, version 4.1, compression none, size, is_ntt_form, size 2, N, k, scale', () => {
    const f = ciphertextFormat(b);
    const h = Buffer.from(f.headerHex, 'hex');
    assert.equal(h.length, 113);
    assert.equal(f.dataOffset, 113);
    assert.equal(h.readUInt16LE(0), 0xa15e);
    assert.deepEqual([h[2], h[3], h[4], h[5]], [16, 4, 1, 0]);
    assert.equal(Number(h.readBigUInt64LE(8)), 65_649);
    assert.equal(h.subarray(16, 48).toString('hex'), f.parmsIdHex);
    assert.equal(h[48], 1);
    assert.equal(h.readBigUInt64LE(49), 2n);
    assert.equal(h.readBigUInt64LE(57), 4096n);
    assert.equal(h.readBigUInt64LE(65), 1n);
    assert.equal(h.readDoubleLE(73), 2 ** 40);
    assert.equal(h.readBigUInt64LE(81), 1n);
    assert.equal(h.readBigUInt64LE(105), 8192n);
    assert.equal(f.moduli.length, 1);
    assert.equal(BigInt(f.moduli[0]!.decimal), (BigInt(f.moduli[0]!.hi) << 32n) + BigInt(f.moduli[0]!.lo));
    assert.equal(f.moduli[0]!.bits, 54);
    assert.equal(ciphertextFormat({ ...b, preset: 'n8192-q60x4' }).moduli.length, 3); // special prime dropped
  });
});
