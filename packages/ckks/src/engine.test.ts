import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { CkksEngine, sealInternals } from './engine.js';
import type { CkksDecryptor, CkksEncryptor } from './engine.js';
import { CkksError, sealCall } from './errors.js';
import { ciphertextFormat } from './format.js';
import { ciphertextByteLength, PRESETS } from './presets.js';
import type { CkksParams, Encoding, PresetName } from './presets.js';
import { chooseScaleBits, estimateMaxError, maxRepresentable } from './scale.js';
import { sealHeapBytes } from './seal-runtime.js';
import { maxAbsDiff, seededRandom } from './testing.js';
import { decryptVector, encryptVector } from './vector.js';

const isCode = (code: string) => (e: unknown) => e instanceof CkksError && e.code === code;

describe('CkksEngine.create', () => {
  it('SEAL computes exactly the recorded primes and parms_ids for every preset', async () => {
    for (const preset of Object.keys(PRESETS) as PresetName[]) {
      const params: CkksParams = { preset, encoding: 'slots', scaleBits: 40 };
      const engine = await CkksEngine.create(params);
      try {
        assert.deepEqual(engine.format, ciphertextFormat(params));
        assert.equal(engine.format.byteLength, ciphertextByteLength(params));
        assert.deepEqual(engine.params, params);
      } finally {
        engine.dispose();
      }
    }
    assert.ok((sealHeapBytes() ?? 0) > 0, 'the heap gauge is wired once SEAL is loaded');
  });

  it('rejects bad params before loading anything', async () => {
    await assert.rejects(CkksEngine.create({ preset: 'n4096-q54', encoding: 'slots', scaleBits: 60 }), isCode('invalid_params'));
  });
});

for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
  describe(`encrypt/decrypt round trip (${encoding})`, () => {
    const params: CkksParams = { preset: 'n2048-q54', encoding, scaleBits: 40 };
    const per = encoding === 'slots' ? 1024 : 2048;
    let engine: CkksEngine;
    let enc: CkksEncryptor;
    let dec: CkksDecryptor;
    beforeAll(async () => {
      engine = await CkksEngine.create(params);
      const keys = engine.generateKeyPair();
      enc = engine.createEncryptor(keys.publicKey);
      dec = engine.createDecryptor(keys.secretKey);
    });
    afterAll(() => engine.dispose());

    it('known answers within the error estimate', () => {
      const known = [1, -2.5, 3.25, 0, 1e-3, -1e-6, 1000, -1000, Math.PI, 7.5e-5];
      const x = new Float64Array(per);
      x.set(known);
      const rand = seededRandom(1);
      for (let i = known.length; i < per; i++) x[i] = (rand() * 2 - 1) * 10;
      const ct = enc.encrypt(x);
      assert.equal(ct.length, 32_881);
      const y = dec.decrypt(ct);
      assert.equal(y.length, per);
      const err = maxAbsDiff(y, x);
      assert.ok(err <= estimateMaxError(params, 1, 1000), `error ${err}`);
      assert.ok(err < 1e-7, `error ${err}`);
      // Two encryptions of the same vector differ (randomised encryption).
      assert.notDeepEqual(enc.encrypt(x), ct);
    });

    it('zero-pads short inputs and accepts Float32Array', () => {
      const tol = estimateMaxError(params, 1, 1);
      const x = Float32Array.from([0.5, -0.25, 0.125]);
      const y = dec.decrypt(enc.encrypt(x));
      assert.ok(maxAbsDiff(y, [0.5, -0.25, 0.125]) < tol);
      assert.ok(maxAbsDiff(y.subarray(3), new Float64Array(per - 3)) < tol);
      assert.ok(maxAbsDiff(dec.decrypt(enc.encrypt(new Float64Array(0))), new Float64Array(per)) < tol);
    });

    it('encodes the edges ±maxRepresentable, and refuses beyond, NaN and too many values', () => {
      const m = maxRepresentable(params);
      const y = dec.decrypt(enc.encrypt(Float64Array.from([m, -m, m / 2])));
      assert.ok(maxAbsDiff(y, [m, -m, m / 2]) < 1e-3, `${y[0]} vs ${m}`);
      assert.throws(() => enc.encrypt(Float64Array.from([m * 1.001])), isCode('out_of_range'));
      assert.throws(() => enc.encrypt(Float64Array.from([0, Number.NaN])), /value 1 is not finite/);
      assert.throws(() => enc.encrypt(Float64Array.from([Number.NEGATIVE_INFINITY])), isCode('out_of_range'));
      assert.throws(() => enc.encrypt(new Float64Array(per + 1)), isCode('invalid_params'));
    });

    it('decrypt validates first, with the reason in the message', () => {
      const ct = enc.encrypt(new Float64Array([1]));
      assert.throws(() => dec.decrypt(ct.subarray(0, 100)), (e: unknown) => isCode('invalid_ciphertext')(e) && /length 100 != 32881/.test((e as Error).message));
    });

    it('decrypts under the wrong key to garbage, not an exception (the keyholder range check must catch it)', () => {
      const other = engine.createDecryptor(engine.generateKeyPair().secretKey);
      const y = other.decrypt(enc.encrypt(new Float64Array(per).fill(1)));
      assert.ok(maxAbsDiff(y, new Float64Array(per).fill(1)) > 1e3);
      other.dispose();
    });

    it('encryptVector/decryptVector: lengths not a multiple of the chunk, last chunk zero-padded', () => {
      const length = per * 2 + 17;
      const rand = seededRandom(3);
      const x = Float32Array.from({ length }, () => rand() * 4 - 2);
      const cts = [...encryptVector(enc, params, x)];
      assert.equal(cts.length, 3);
      assert.ok(maxAbsDiff(decryptVector(dec, params, cts, length), x) < 1e-7);
      assert.ok(maxAbsDiff(dec.decrypt(cts[2]!).subarray(17), new Float64Array(per - 17)) < estimateMaxError(params, 1, 1), 'padding decodes to 0');
      assert.throws(() => decryptVector(dec, params, cts.slice(0, 2), length), isCode('invalid_params'));
      assert.deepEqual([...encryptVector(enc, params, new Float32Array(0))], []);
    });
  });
}

describe('the 4096-degree presets (n4096-q60p49 default, n4096-q54)', () => {
  const keySizes = { 'n4096-q60p49': { publicKey: 65_730, secretKey: 65_624 }, 'n4096-q54': { publicKey: 32_962, secretKey: 32_856 } };
  for (const [preset, sizes] of Object.entries(keySizes) as [PresetName, { publicKey: number; secretKey: number }][])
  for (const encoding of ['slots', 'coefficients'] as Encoding[]) {
    it(`${preset} round-trips at the scale chosen for 1,000 clients (${encoding})`, async () => {
      const scaleBits = chooseScaleBits(preset, encoding, 1000, 1);
      using engine = await CkksEngine.create({ preset, encoding, scaleBits });
      const keys = engine.generateKeyPair();
      assert.equal(keys.publicKey.length, sizes.publicKey);
      assert.equal(keys.secretKey.length, sizes.secretKey);
      const per = encoding === 'slots' ? 2048 : 4096;
      const x = Float64Array.from({ length: per }, (_, i) => Math.sin(i));
      const ct = engine.createEncryptor(keys.publicKey).encrypt(x);
      assert.equal(ct.length, 65_649);
      assert.ok(maxAbsDiff(engine.createDecryptor(keys.secretKey).decrypt(ct), x) < 1e-8);
    });
  }
});

describe('worker threads', () => {
  it('loads its own SEAL in a worker and round-trips there', async () => {
    const { Worker } = await import('node:worker_threads');
    const source = `
      import { parentPort } from 'node:worker_threads';
      const { CkksEngine } = await import(${JSON.stringify(new URL('./index.js', import.meta.url).href)});
      using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 40 });
      const keys = engine.generateKeyPair();
      const ct = engine.createEncryptor(keys.publicKey).encrypt(new Float64Array([1.25, -3]));
      parentPort.postMessage([...engine.createDecryptor(keys.secretKey).decrypt(ct).subarray(0, 2)]);
    `;
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { type: 'module' } as object);
    const [result] = (await Promise.all([new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject))])) as [number[]];
    await worker.terminate();
    assert.ok(maxAbsDiff(result, [1.25, -3]) < 1e-8, String(result));
  });
});

describe('disposal and errors', () => {
  it('dispose() frees children, is idempotent, and later use throws disposed', async () => {
    const engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const keys = engine.generateKeyPair();
    const enc = engine.createEncryptor(keys.publicKey);
    const dec = engine.createDecryptor(keys.secretKey);
    const ct = enc.encrypt(new Float64Array([1]));
    engine.dispose();
    engine.dispose();
    assert.throws(() => enc.encrypt(new Float64Array([1])), isCode('disposed'));
    assert.throws(() => dec.decrypt(ct), isCode('disposed'));
    assert.throws(() => engine.generateKeyPair(), isCode('disposed'));
    assert.throws(() => engine.createEncryptor(keys.publicKey), isCode('disposed'));
    enc.dispose();
  });

  it('a child disposed on its own is forgotten by the engine', async () => {
    using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'coefficients', scaleBits: 40 });
    const keys = engine.generateKeyPair();
    {
      using enc = engine.createEncryptor(keys.publicKey);
      enc.encrypt(new Float64Array([1]));
    }
    const enc2 = engine.createEncryptor(keys.publicKey);
    assert.equal(engine.createDecryptor(keys.secretKey).decrypt(enc2.encrypt(new Float64Array([2])))[0]!.toFixed(6), '2.000000');
  });

  it('converts SEAL WebAssembly.Exception into CkksError(seal_error) with a readable message', async () => {
    using engine = await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 });
    const { seal, context } = sealInternals(engine);
    const ct = new seal.Ciphertext();
    try {
      // Deliberately unvalidated bytes: the one place a test lets SEAL throw.
      assert.throws(
        () => sealCall('load', () => ct.loadFromArray(context, new Uint8Array(16))),
        (e: unknown) => isCode('seal_error')(e) && e instanceof Error && /^SEAL failed to load: std::/.test(e.message) && e.cause !== undefined,
      );
    } finally {
      ct.delete();
    }
  });
});
