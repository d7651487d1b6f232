import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { addCiphertextInto } from './add.js';
import { CkksEngine } from './engine.js';
import { CkksError } from './errors.js';
import { maxScaleBits, PRESETS } from './presets.js';
import type { CkksParams, Encoding } from './presets.js';
import { chooseScaleBits, encryptionNoiseBound, estimateMaxError, maxRepresentable } from './scale.js';
import { maxAbsDiff, seededRandom } from './testing.js';

const isCode = (code: string) => (e: unknown) => e instanceof CkksError && e.code === code;

describe('chooseScaleBits (pure)', () => {
  it('known answers: 1,000 clients at clip norm 1 on n4096-q54 get scale 2^43', () => {
    // 1000 · 2^43 ≈ 8.80e15 < q/2 ≈ 9.007e15 minus noise headroom; 2^44 would be 1.76e16.
    assert.equal(chooseScaleBits('n4096-q54', 'slots', 1000, 1), 43);
    assert.equal(chooseScaleBits('n4096-q54', 'coefficients', 1000, 1), 43);
    assert.equal(chooseScaleBits('n2048-q54', 'slots', 16, 1.5), 48);
  });

  it('is the largest scale whose maxRepresentable covers the clip norm', () => {
    for (const [preset, encoding, K, C] of [
      ['n4096-q54', 'slots', 1000, 1],
      ['n4096-q54', 'coefficients', 10_000, 0.25],
      ['n2048-q54', 'slots', 3, 100],
      ['n8192-q60x4', 'slots', 1000, 1],
      ['n8192-q60x4', 'coefficients', 1000, 1],
    ] as const) {
      const s = chooseScaleBits(preset, encoding, K, C);
      assert.ok(maxRepresentable({ preset, encoding, scaleBits: s }, K) >= C);
      if (s < maxScaleBits(PRESETS[preset])) assert.ok(maxRepresentable({ preset, encoding, scaleBits: s + 1 }, K) < C);
    }
  });

  it('coefficients on the multi-prime preset are limited by one 60-bit prime and exact doubles', () => {
    // The decoder reads the largest prime only and round(x·scale) must be an exact double.
    assert.equal(chooseScaleBits('n8192-q60x4', 'coefficients', 1, 1), 52);
    assert.ok(chooseScaleBits('n8192-q60x4', 'slots', 1000, 1) > 100);
  });

  it('never gives more clients a larger scale', () => {
    let prev = Infinity;
    for (const K of [1, 2, 10, 100, 1000, 10_000, 100_000]) {
      const s = chooseScaleBits('n4096-q54', 'slots', K, 1, { minPrecisionBits: 0 });
      assert.ok(s <= prev);
      prev = s;
    }
  });

  it('throws no_safe_scale when the precision would be too low, and invalid_params for bad input', () => {
    assert.throws(() => chooseScaleBits('n2048-q54', 'slots', 1_000_000, 100), isCode('no_safe_scale'));
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 1000, 1, { minPrecisionBits: 30 }), /bits of precision \(< 30\)/);
    // Slot noise grows like N·sqrt(K): 10,000 clients on n4096 keep ~15 bits; coefficients keep 21.
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 10_000, 1), isCode('no_safe_scale'));
    assert.equal(chooseScaleBits('n4096-q54', 'coefficients', 10_000, 1), 39);
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 2 ** 40, 1e6), isCode('no_safe_scale'));
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 0, 1), isCode('invalid_params'));
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 10, Number.NaN), isCode('invalid_params'));
    assert.throws(() => chooseScaleBits('n4096-q54', 'slots', 10, -1), isCode('invalid_params'));
    assert.throws(() => chooseScaleBits('n512' as 'n4096-q54', 'slots', 10, 1), isCode('invalid_params'));
  });

  it('maxRepresentable matches REFERENCE.md: set b at 2^40 wraps once |sum| > 8,192', () => {
    const m = maxRepresentable({ preset: 'n4096-q54', encoding: 'slots', scaleBits: 40 });
    assert.ok(m < 8192 && m > 8191.9, String(m));
    assert.equal(encryptionNoiseBound(4096), 21 * 8193);
  });
});

/**
 * The wrap test of DESIGN.md §4: at the chosen scale, maxClients vectors at
 * ±clipNorm in every coordinate sum without wrapping; at one more power of two
 * the all-+C sum (which puts K·C·scale into one coefficient, the worst case)
 * wraps. K and C are chosen so that K·C·2^(s+1) > q/2 (asserted), i.e. the
 * next scale is unsafe even before headroom.
 */
for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
  describe(`no overflow at the chosen scale (${encoding}, SEAL)`, () => {
    const K = 16;
    const C = 1.5;
    const preset = 'n2048-q54' as const;
    const s = chooseScaleBits(preset, encoding, K, C);
    const q = 18014398509404161;

    async function sumOf(params: CkksParams, vectors: (c: number) => Float64Array): Promise<Float64Array> {
      const engine = await CkksEngine.create(params);
      try {
        const { publicKey, secretKey } = engine.generateKeyPair();
        const enc = engine.createEncryptor(publicKey);
        const acc = enc.encrypt(vectors(0));
        for (let c = 1; c < K; c++) addCiphertextInto(engine.format, acc, enc.encrypt(vectors(c)));
        return engine.createDecryptor(secretKey).decrypt(acc);
      } finally {
        engine.dispose();
      }
    }

    it(`sums ${K} clients at ±${C} exactly within the error estimate at 2^${s}`, async () => {
      const params: CkksParams = { preset, encoding, scaleBits: s };
      const per = encoding === 'slots' ? 1024 : 2048;
      const rand = seededRandom(11);
      const signs = Float64Array.from({ length: per }, () => (rand() < 0.5 ? -C : C));
      const want = signs.map((x) => K * x);
      const tol = estimateMaxError(params, K, C);
      assert.ok(tol < 1e-6);
      assert.ok(maxAbsDiff(await sumOf(params, () => signs), want) <= tol);
      for (const c of [C, -C]) {
        const got = await sumOf(params, () => new Float64Array(per).fill(c));
        assert.ok(maxAbsDiff(got, new Float64Array(per).fill(K * c)) <= tol, `constant ${c}`);
      }
    });

    it(`wraps at 2^${s + 1}`, async () => {
      assert.ok(K * C * 2 ** (s + 1) > q / 2, 'precondition: the next scale is unsafe');
      const params: CkksParams = { preset, encoding, scaleBits: s + 1 };
      const per = encoding === 'slots' ? 1024 : 2048;
      const got = await sumOf(params, () => new Float64Array(per).fill(C));
      assert.ok(Math.abs(got[0]! - K * C) > 1, `expected a wrapped value, got ${got[0]}`);
    });
  });
}
