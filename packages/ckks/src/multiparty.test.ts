import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { addCiphertextInto } from './add.js';
import { CkksEngine } from './engine.js';
import { CkksError } from './errors.js';
import { validatePublicKey } from './key-format.js';
import {
  addSecretKeys,
  aggregatePublicKey,
  collectiveKeySeed,
  combineDecryptionShares,
  commonRandomPolynomial,
  decryptionShareByteLength,
  lagrangeCoefficient,
  lagrangeScaleSecretKey,
  publicKeyShareByteLength,
  shamirSplitSecretKey,
  validateDecryptionShare,
  validatePublicKeyShare,
} from './multiparty.js';
import type { CkksParams } from './presets.js';
import { maxAbsDiff, seededRandom } from './testing.js';

/** The default preset: its public key lives at the key level with the special prime. */
const DEFAULT: CkksParams = { preset: 'n4096-q60p49', encoding: 'coefficients', scaleBits: 40 };
const SMALL: CkksParams = { preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 30 };

function randomVector(n: number, seed: number): Float64Array {
  const r = seededRandom(seed);
  return Float64Array.from({ length: n }, () => 2 * r() - 1);
}

for (const params of [DEFAULT, SMALL]) {
  describe(`multiparty CKKS on ${params.preset} (real SEAL)`, () => {
    let engine: CkksEngine;
    const n = params.preset === 'n2048-q54' ? 2048 : 4096;
    const crp = commonRandomPolynomial(params.preset, collectiveKeySeed('r-test-1'));
    let parts: { publicShare: Uint8Array; secretShare: Uint8Array }[];
    let collectiveKey: Uint8Array;
    const updates = [0, 1, 2, 3].map((i) => randomVector(n, 100 + i));
    const expected = new Float64Array(n);
    for (const u of updates) for (let i = 0; i < n; i++) expected[i]! += u[i]!;
    let sum: Uint8Array;
    // Fresh-encryption error of 4 summands under a 3-party key is a few hundred units of the scale.
    const TOLERANCE = 2 ** (14 - params.scaleBits);

    beforeAll(async () => {
      engine = await CkksEngine.create(params);
      parts = [0, 1, 2].map(() => engine.generateKeyShare(crp));
      collectiveKey = aggregatePublicKey(params.preset, crp, parts.map((p) => p.publicShare));
      const enc = engine.createEncryptor(collectiveKey);
      try {
        sum = enc.encrypt(updates[0]!);
        for (const u of updates.slice(1)) addCiphertextInto(engine.format, sum, enc.encrypt(u));
      } finally {
        enc.dispose();
      }
    });
    afterAll(() => engine.dispose());

    it('the collective key is a SEAL public key for the sum of the secret shares', () => {
      assert.equal(parts[0]!.publicShare.length, publicKeyShareByteLength(params.preset));
      assert.deepEqual(validatePublicKey(params.preset, collectiveKey), { ok: true });
      // Assembled only here: in production no party holds Σsᵢ.
      const dec = engine.createDecryptor(addSecretKeys(params.preset, parts.map((p) => p.secretShare)));
      try {
        const got = dec.decrypt(sum);
        assert.ok(maxAbsDiff(got, expected, n) < TOLERANCE, `max error ${maxAbsDiff(got, expected, n)}`);
        // One share's key alone decrypts garbage.
        const one = engine.createDecryptor(parts[0]!.secretShare);
        assert.ok(maxAbsDiff(one.decrypt(sum), expected, n) > 1, 'a single secret share must not decrypt');
        one.dispose();
      } finally {
        dec.dispose();
      }
    });

    it('n-of-n: c0 + Σ decryption shares decodes to the sum plus Σ noise', () => {
      const noises = [0, 1, 2].map((i) => {
        const r = seededRandom(7 + i);
        // Beyond 2^53 in plaintext units, as a share's DP noise is (σ·2^scaleBits).
        return BigInt64Array.from({ length: n }, () => BigInt(Math.round((r() - 0.5) * 2 ** 40)) * 2n ** BigInt(params.scaleBits - 24));
      });
      const shares = parts.map((p, i) => {
        const d = engine.createShareDecryptor(p.secretShare);
        try {
          return d.share(sum, noises[i]!, i === 0);
        } finally {
          d.dispose();
        }
      });
      assert.equal(shares[0]!.length, decryptionShareByteLength(params));
      for (const s of shares) assert.deepEqual(validateDecryptionShare(params, s), { ok: true });
      const got = combineDecryptionShares(params, shares);
      const want = Float64Array.from(expected, (x, i) => x + Number(noises[0]![i]! + noises[1]![i]! + noises[2]![i]!) / 2 ** params.scaleBits);
      assert.ok(maxAbsDiff(got, want) < TOLERANCE, `max error ${maxAbsDiff(got, want)}`);
      // Without one keyholder's share, the rest is uniform mod q: nothing near the sum.
      const partial = combineDecryptionShares(params, shares.slice(0, 2));
      assert.ok(maxAbsDiff(partial, want) > 1e3, 'n − 1 shares must not decode');
    });

    it('t-of-n: any 2 of 3 Lagrange-scaled Shamir shares decrypt, 1 does not', () => {
      const ids = [1, 2, 3];
      // Keyholder i deals Shamir shares of its sᵢ; keyholder j sums what it received into σⱼ.
      const dealt = parts.map((p) => shamirSplitSecretKey(params.preset, p.secretShare, ids, 2));
      const sigma = ids.map((_, j) => addSecretKeys(params.preset, dealt.map((d) => d[j]!)));
      for (const set of [
        [1, 2],
        [1, 3],
        [2, 3],
      ]) {
        const shares = set.map((id, x) => {
          const d = engine.createShareDecryptor(lagrangeScaleSecretKey(params.preset, sigma[id - 1]!, id, set));
          try {
            return d.share(sum, undefined, x === 0);
          } finally {
            d.dispose();
          }
        });
        const got = combineDecryptionShares(params, shares);
        assert.ok(maxAbsDiff(got, expected) < TOLERANCE, `set ${set.join(',')}: max error ${maxAbsDiff(got, expected)}`);
      }
      // t − 1 = 1 keyholder, whatever coefficient it applies, decodes noise: λ = 1 (as if alone).
      const d = engine.createShareDecryptor(lagrangeScaleSecretKey(params.preset, sigma[0]!, 1, [1]));
      const alone = combineDecryptionShares(params, [d.share(sum, undefined, true)]);
      d.dispose();
      assert.ok(maxAbsDiff(alone, expected) > 1e3, 't − 1 shares must not decode');
    });
  });
}

describe('multiparty arithmetic (pure)', () => {
  it('the common random polynomial is deterministic per seed, bound to the round, and below every prime', () => {
    const a = commonRandomPolynomial('n4096-q60p49', collectiveKeySeed('r-1'));
    assert.deepEqual(a, commonRandomPolynomial('n4096-q60p49', collectiveKeySeed('r-1')));
    assert.notDeepEqual(a, commonRandomPolynomial('n4096-q60p49', collectiveKeySeed('r-2')));
    assert.equal(a.length, 2 * 4096);
    for (let i = 0; i < 4096; i++) {
      assert.ok(a[i]! < 1152921504606830593n);
      assert.ok(a[4096 + i]! < 562949953216513n);
    }
  });

  it('Lagrange coefficients at 0 reconstruct a constant term', () => {
    const q = 1152921504606830593n;
    // f(x) = 5 + 7x: f(1) = 12, f(3) = 26.
    const set = [1, 3];
    const s = (lagrangeCoefficient(1, set, q) * 12n + lagrangeCoefficient(3, set, q) * 26n) % q;
    assert.equal(s, 5n);
  });

  it('refuses malformed shares with a precise reason', () => {
    assert.deepEqual(validatePublicKeyShare('n2048-q54', new Uint8Array(10)), { ok: false, reason: 'public key share length 10 != 16384' });
    const big = new Uint8Array(publicKeyShareByteLength('n2048-q54')).fill(0xff);
    assert.deepEqual(validatePublicKeyShare('n2048-q54', big), { ok: false, reason: 'public key share coefficient 0 of prime 0 >= q' });
    assert.deepEqual(validateDecryptionShare(SMALL, new Uint8Array(8)), { ok: false, reason: 'decryption share length 8 != 16384' });
    assert.throws(() => combineDecryptionShares(SMALL, [new Uint8Array(decryptionShareByteLength(SMALL)).fill(0xff)]), CkksError);
    assert.throws(() => shamirSplitSecretKey('n2048-q54', new Uint8Array(5), [1, 2], 2), /secret key length/);
  });
});
