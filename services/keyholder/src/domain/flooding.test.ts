/**
 * The decryption-error bound of flooding.ts against real node-seal: sums of K
 * fresh encryptions of known vectors under fresh keys, decrypted, compared
 * with the exact sums. The bound must hold, and must not be absurdly loose
 * (the ratio bound / observed max is reported as a diagnostic).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { addCiphertextInto, chooseScaleBits, ciphertextFormat, CkksEngine, valuesPerCiphertext, type CkksParams, type Encoding, type PresetName } from '@secagg/ckks';
import { decryptionErrorBound, errorParamsOf, floodingMarginBits, keyStatisticBounds, perClientErrorL2 } from './flooding.js';

/** Deterministic values in [-C, C]. */
function vector(n: number, seed: number, clipNorm: number): Float64Array {
  const out = new Float64Array(n);
  let state = seed * 2654435761 + 7;
  for (let i = 0; i < n; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    out[i] = ((state / 2 ** 31) * 2 - 1) * clipNorm;
  }
  return out;
}

/** Largest |decrypted - exact| over every value of a sum of `summands` encryptions, for each of `keys` fresh key pairs. */
async function observedMaxError(params: CkksParams, summands: number, keys: number, clipNorm: number): Promise<number> {
  using engine = await CkksEngine.create(params);
  const format = ciphertextFormat(params);
  let worst = 0;
  for (let k = 0; k < keys; k++) {
    const { publicKey, secretKey } = engine.generateKeyPair();
    using encryptor = engine.createEncryptor(publicKey);
    using decryptor = engine.createDecryptor(secretKey);
    const n = valuesPerCiphertext(params);
    const exact = new Float64Array(n);
    let sum: Uint8Array | undefined;
    for (let s = 0; s < summands; s++) {
      const values = vector(n, 1_000 * k + s + 1, clipNorm);
      for (let i = 0; i < n; i++) exact[i]! += values[i]!;
      const ct = encryptor.encrypt(values);
      if (sum) addCiphertextInto(format, sum, ct);
      else sum = ct;
    }
    const decrypted = decryptor.decrypt(sum!);
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(decrypted[i]! - exact[i]!));
  }
  return worst;
}

describe('CKKS decryption-error bound (flooding)', () => {
  const cases: { preset: PresetName; encoding: Encoding; summands: number; maxRatio: number }[] = [
    { preset: 'n2048-q54', encoding: 'coefficients', summands: 1, maxRatio: 4 },
    { preset: 'n2048-q54', encoding: 'coefficients', summands: 64, maxRatio: 4 },
    { preset: 'n4096-q54', encoding: 'coefficients', summands: 16, maxRatio: 4 },
    { preset: 'n4096-q54', encoding: 'slots', summands: 16, maxRatio: 24 },
    { preset: 'n2048-q54', encoding: 'slots', summands: 4, maxRatio: 24 },
  ];
  for (const { preset, encoding, summands, maxRatio } of cases) {
    it(`${preset}/${encoding}, ${summands} summands: observed error <= bound, and within ${maxRatio}x of it`, async () => {
      const clipNorm = 1;
      const params: CkksParams = { preset, encoding, scaleBits: chooseScaleBits(preset, encoding, summands, clipNorm) };
      const bound = decryptionErrorBound(errorParamsOf(params), summands);
      const observed = await observedMaxError(params, summands, 4, clipNorm);
      const ratio = bound.value / observed;
      console.log(
        `scale 2^${params.scaleBits}: observed max ${observed.toExponential(3)}, bound ${bound.value.toExponential(3)}, ratio ${ratio.toFixed(2)}`,
      );
      assert.ok(observed <= bound.value, `observed ${observed} exceeds the bound ${bound.value}`);
      assert.ok(ratio <= maxRatio, `bound ${bound.value} is ${ratio.toFixed(1)}x the observed ${observed}: too loose`);
    });
  }

  it('grows like sqrt(summands) once the noise dominates, and a special prime shrinks it', () => {
    const base = { polyModulusDegree: 4096, specialPrimeBits: 0, encoding: 'coefficients' as const, scaleBits: 40 };
    const b100 = decryptionErrorBound(base, 100).scaled;
    const b400 = decryptionErrorBound(base, 400).scaled;
    assert.ok(Math.abs(b400 / b100 - 2) < 0.01, `ratio ${b400 / b100}`);
    const withSpecial = decryptionErrorBound({ ...base, specialPrimeBits: 49 }, 100).scaled;
    assert.ok(withSpecial < b100 / 8, `${withSpecial} vs ${b100}`);
    // Slots spread the coefficient noise over the canonical embedding: far larger per value.
    assert.ok(decryptionErrorBound({ ...base, encoding: 'slots' }, 100).scaled > 50 * b100);
  });

  it('bounds the key statistics above their means and below their worst cases', () => {
    const n = 4096;
    const k = keyStatisticBounds(n);
    assert.ok(k.secretWeight > (2 * n) / 3 && k.secretWeight < n);
    assert.ok(k.publicErrorNormSquared > 10.5 * n && k.publicErrorNormSquared < 441 * n);
    assert.ok(k.secretEmbeddingSquared > (2 * n) / 3 && k.secretEmbeddingSquared < k.secretWeight ** 2);
  });

  it('per-client L2 error grows with sqrt(length) and is tiny next to a unit clip norm', () => {
    const params = errorParamsOf({ preset: 'n4096-q54', encoding: 'coefficients', scaleBits: 46 });
    const small = perClientErrorL2(params, 10_000);
    const large = perClientErrorL2(params, 1_000_000);
    assert.ok(large > 9 * small && large < 12 * small);
    assert.ok(large < 1e-6);
  });

  it('default preset margins, for the report (z = 1, C = 1)', () => {
    let previous = Infinity;
    for (const maxClients of [1, 2, 10, 100, 1_000]) {
      const params: CkksParams = { preset: 'n4096-q54', encoding: 'coefficients', scaleBits: chooseScaleBits('n4096-q54', 'coefficients', maxClients, 1) };
      const margin = floodingMarginBits(1, decryptionErrorBound(errorParamsOf(params), maxClients));
      console.log(`n4096-q54/coefficients, ${maxClients} max clients: scale 2^${params.scaleBits}, margin ${margin.toFixed(1)} bits`);
      assert.ok(margin < previous);
      previous = margin;
    }
  });
});
