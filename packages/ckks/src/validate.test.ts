import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import fc from 'fast-check';
import { CkksEngine, sealInternals } from './engine.js';
import type { CkksDecryptor, CkksEncryptor } from './engine.js';
import { CkksError } from './errors.js';
import { ciphertextFormat } from './format.js';
import type { CiphertextFormat } from './format.js';
import { validatePublicKey, validateSecretKey } from './key-format.js';
import { sealLoadCiphertext } from './testing.js';
import { validateCiphertext } from './validate.js';

const params = { preset: 'n2048-q54', encoding: 'slots', scaleBits: 40 } as const;
let engine: CkksEngine;
let enc: CkksEncryptor;
let dec: CkksDecryptor;
let keys: { publicKey: Uint8Array; secretKey: Uint8Array };
let format: CiphertextFormat;
let valid: Uint8Array;

beforeAll(async () => {
  engine = await CkksEngine.create(params);
  keys = engine.generateKeyPair();
  enc = engine.createEncryptor(keys.publicKey);
  dec = engine.createDecryptor(keys.secretKey);
  format = engine.format;
  valid = enc.encrypt(Float64Array.from({ length: 1024 }, (_, i) => Math.cos(i)));
});
afterAll(() => engine.dispose());

function reason(bytes: Uint8Array, f: CiphertextFormat = format): string {
  const v = validateCiphertext(f, bytes);
  return v.ok ? 'ok' : v.reason;
}
function mutated(edit: (b: Uint8Array, v: DataView) => void): Uint8Array {
  const b = valid.slice();
  edit(b, new DataView(b.buffer));
  return b;
}
const Q = 18014398509404161n; // the n2048-q54 prime

describe('validateCiphertext', () => {
  it('accepts a fresh ciphertext, at any byteOffset', () => {
    assert.equal(reason(valid), 'ok');
    for (const shift of [1, 2, 3, 5, 7]) {
      const big = new Uint8Array(valid.length + 8);
      big.set(valid, shift);
      assert.equal(reason(big.subarray(shift, shift + valid.length)), 'ok', `offset ${shift}`);
    }
  });

  it('accepts the pure format (recorded constants) exactly like the SEAL-computed one', () => {
    assert.deepEqual(ciphertextFormat(params), format);
    assert.equal(reason(valid, ciphertextFormat(params)), 'ok');
  });

  it('works with a format that crossed a thread or a queue (structuredClone, JSON)', () => {
    assert.equal(reason(valid, structuredClone(format)), 'ok');
    const viaJson = JSON.parse(JSON.stringify(format)) as CiphertextFormat;
    assert.equal(reason(valid, viaJson), 'ok');
    assert.equal(reason(mutated((_b, v) => v.setFloat64(73, 2 ** 41, true)), viaJson), 'scale 2^41 != 2^40');
  });

  it('rejects wrong lengths and random bytes', () => {
    assert.equal(reason(valid.subarray(0, 100)), 'length 100 != 32881');
    assert.equal(reason(valid.subarray(0, valid.length - 1)), 'length 32880 != 32881');
    const ext = new Uint8Array(valid.length + 1);
    ext.set(valid);
    assert.equal(reason(ext), 'length 32882 != 32881');
    assert.equal(reason(new Uint8Array(0)), 'length 0 != 32881');
    const rnd = new Uint8Array(valid.length);
    for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 131 + 7) & 0xff;
    assert.equal(reason(rnd), 'not a SEAL object (bad magic)');
    assert.equal(reason(new ArrayBuffer(10) as unknown as Uint8Array), 'ciphertext is not a byte array');
  });

  it('names the wrong header field', () => {
    const cases: [string, (b: Uint8Array, v: DataView) => void][] = [
      ['not a SEAL object (bad magic)', (b) => (b[0] = 0x5f)],
      ['SEAL header size 17 != 16', (b) => (b[2] = 17)],
      ['SEAL version 3.6 != 4.1', (b) => ((b[3] = 3), (b[4] = 6))],
      ['compression mode zstd != none', (b) => (b[5] = 2)],
      ['compression mode zlib != none', (b) => (b[5] = 1)],
      ['reserved SEAL header bytes are not zero', (b) => (b[7] = 1)],
      ['declared size 32882 != 32881', (_b, v) => v.setBigUint64(8, 32882n, true)],
      ["parms_id does not match the round's parameters", (b) => (b[30] = b[30]! ^ 1)],
      ['is_ntt_form 0 != 1', (b) => (b[48] = 0)],
      ['is_ntt_form 2 != 1', (b) => (b[48] = 2)],
      ['size 3 != 2', (_b, v) => v.setBigUint64(49, 3n, true)],
      ['size 1 != 2', (_b, v) => v.setBigUint64(49, 1n, true)],
      ['size 18446744073709551615 != 2', (_b, v) => v.setBigUint64(49, 2n ** 64n - 1n, true)],
      ['poly_modulus_degree 4096 != 2048', (_b, v) => v.setBigUint64(57, 4096n, true)],
      ['coeff modulus count 2 != 1', (_b, v) => v.setBigUint64(65, 2n, true)],
      ['scale 2^30 != 2^40', (_b, v) => v.setFloat64(73, 2 ** 30, true)],
      ['scale 3 != 2^40', (_b, v) => v.setFloat64(73, 3, true)],
      ['correction factor 2 != 1', (_b, v) => v.setBigUint64(81, 2n, true)],
      ['data array: not a SEAL object (bad magic)', (b) => (b[89] = 0)],
      ['data array: compression mode zstd != none', (b) => (b[94] = 2)],
      ['data array: declared size 99 != 32792', (_b, v) => v.setBigUint64(97, 99n, true)],
      ['data element count 4097 != 4096', (_b, v) => v.setBigUint64(105, 4097n, true)],
      ['data element count 18446744073709551615 != 4096', (_b, v) => v.setBigUint64(105, 2n ** 64n - 1n, true)],
    ];
    for (const [want, edit] of cases) assert.equal(reason(mutated(edit)), want);
  });

  it('rejects a ciphertext of another preset, scale or prime', async () => {
    const other = await CkksEngine.create({ ...params, preset: 'n4096-q54' });
    try {
      const e = other.createEncryptor(other.generateKeyPair().publicKey);
      assert.equal(reason(e.encrypt(new Float64Array([1]))), 'length 65649 != 32881');
    } finally {
      other.dispose();
    }
    const lowScale = await CkksEngine.create({ ...params, scaleBits: 30 });
    try {
      const e = lowScale.createEncryptor(keys.publicKey);
      assert.equal(reason(e.encrypt(new Float64Array([1]))), 'scale 2^30 != 2^40');
    } finally {
      lowScale.dispose();
    }
    // Same N and size, different 54-bit prime: a genuinely different parms_id.
    const { seal } = sealInternals(engine);
    const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
    parms.setPolyModulusDegree(2048);
    const two = seal.CoeffModulus.Create(2048, Int32Array.from([54, 54]));
    const second = two.get(0)!; // Create returns the largest prime last
    const chain = new seal.VectorModulus();
    chain.push_back(second);
    parms.setCoeffModulus(chain);
    const ctx = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
    const kg = new seal.KeyGenerator(ctx);
    const pk = kg.createPublicKey();
    const encoder = new seal.CKKSEncoder(ctx);
    const encryptor = new seal.Encryptor(ctx, pk);
    const pt = new seal.Plaintext();
    const ct = new seal.Ciphertext();
    try {
      encoder.encode(Float64Array.from([1]), 2 ** 40, pt);
      encryptor.encrypt(pt, ct);
      const bytes = ct.saveToArray(seal.ComprModeType.none) as Uint8Array;
      assert.equal(bytes.length, valid.length);
      assert.equal(reason(bytes), "parms_id does not match the round's parameters");
    } finally {
      for (const o of [parms, two, second, chain, ctx, kg, pk, encoder, encryptor, pt, ct]) o.delete();
    }
  });

  it('rejects a coefficient >= its prime, naming it', () => {
    const at = (poly: number, i: number): number => 113 + 8 * (poly * 2048 + i);
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(1, 17), Q, true))), 'coefficient 17 of polynomial 1 >= q');
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(0, 0), Q, true))), 'coefficient 0 of polynomial 0 >= q');
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(0, 2047), 2n ** 64n - 1n, true))), 'coefficient 2047 of polynomial 0 >= q');
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(1, 5), Q + (1n << 32n), true))), 'coefficient 5 of polynomial 1 >= q');
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(1, 17), Q - 1n, true))), 'ok');
    assert.equal(reason(mutated((_b, v) => v.setBigUint64(at(0, 9), 0n, true))), 'ok');
  });

  it('names the prime of a multi-prime format', () => {
    const f = ciphertextFormat({ preset: 'n8192-q60x4', encoding: 'slots', scaleBits: 40 });
    const bytes = new Uint8Array(f.byteLength);
    bytes.set(Buffer.from(f.headerHex, 'hex'));
    const v = new DataView(bytes.buffer);
    v.setBigUint64(113 + 8 * (3 * 8192 + 1), 1n, true); // keep c1 non-zero
    assert.equal(reason(bytes, f), 'ok');
    v.setBigUint64(113 + 8 * (2 * 8192 + 3), BigInt(f.moduli[2]!.decimal), true); // polynomial 0, prime 2
    assert.equal(reason(bytes, f), 'coefficient 3 of polynomial 0 (prime 2) >= q');
  });

  it('rejects a transparent ciphertext (c1 = 0: the plaintext in the clear)', () => {
    assert.equal(reason(mutated((b) => b.fill(0, 113 + 8 * 2048))), 'polynomial 1 is zero (transparent ciphertext)');
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (head, padToLength) => {
        const bytes = padToLength ? new Uint8Array(valid.length) : head;
        if (padToLength) bytes.set(head);
        const v = validateCiphertext(format, bytes);
        return v.ok === false && v.reason.length > 0 && v.reason.length < 120;
      }),
      { numRuns: 300 },
    );
  });

  it('property: a mutated ciphertext either fails validation or loads and decrypts in SEAL without throwing', () => {
    let passed = 0;
    const mutation = fc.oneof(
      // a few random bytes anywhere
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((edits) => (b: Uint8Array) => {
        for (const [i, x] of edits) b[i] = x;
        return b;
      }),
      // one header byte
      fc.tuple(fc.nat(112), fc.integer({ min: 0, max: 255 })).map(([i, x]) => (b: Uint8Array) => {
        b[i] = x;
        return b;
      }),
      // a random uint64 at a random (possibly unaligned) data position, often near q
      fc
        .tuple(fc.nat(valid.length - 113 - 8), fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: Q - 3n, max: Q + 3n })))
        .map(([i, x]) => (b: Uint8Array) => {
          new DataView(b.buffer, b.byteOffset).setBigUint64(113 + i, x, true);
          return b;
        }),
      // truncation / extension
      fc.integer({ min: -200, max: 200 }).map((d) => (b: Uint8Array) => {
        const out = new Uint8Array(Math.max(0, b.length + d));
        out.set(b.subarray(0, Math.min(b.length, out.length)));
        return out;
      }),
    );
    fc.assert(
      fc.property(mutation, (mutate) => {
        const bytes = mutate(valid.slice());
        const v = validateCiphertext(format, bytes);
        if (!v.ok) return true;
        passed++;
        sealLoadCiphertext(engine, bytes); // throws (fails the property) if SEAL would reject it
        assert.equal(dec.decrypt(bytes).length, 1024);
        return true;
      }),
      { numRuns: 400 },
    );
    assert.ok(passed > 20, `only ${passed} mutations passed validation: property too weak`);
  });
});

describe('key validation', () => {
  it('accepts generated keys and rejects damaged ones with a reason', () => {
    assert.deepEqual(validatePublicKey('n2048-q54', keys.publicKey), { ok: true });
    assert.deepEqual(validateSecretKey('n2048-q54', keys.secretKey), { ok: true });
    const pk = keys.publicKey.slice();
    assert.equal(pk.length, 16_578); // seeded form
    pk[pk.length - 65] = 0; // PRNG type byte
    assert.deepEqual(validatePublicKey('n2048-q54', pk), { ok: false, reason: 'public key seed: unknown PRNG type 0' });
    assert.deepEqual(validatePublicKey('n4096-q54', keys.publicKey), {
      ok: false,
      reason: 'public key length 16578 != 32962 (seeded) or 65649',
    });
    const sk = keys.secretKey.slice();
    new DataView(sk.buffer).setBigUint64(88 + 8 * 5, Q, true);
    assert.deepEqual(validateSecretKey('n2048-q54', sk), { ok: false, reason: 'secret key coefficient 5 of the key >= q' });
    const skScale = keys.secretKey.slice();
    new DataView(skScale.buffer).setFloat64(56, 2, true);
    assert.deepEqual(validateSecretKey('n2048-q54', skScale), { ok: false, reason: 'secret key scale 2^1 != 2^0' });
  });

  it('refuses to build an encryptor or decryptor from invalid keys', () => {
    const isInvalidKey = (e: unknown): boolean => e instanceof CkksError && e.code === 'invalid_key' && e.message.includes('length');
    assert.throws(() => engine.createEncryptor(keys.publicKey.subarray(1)), isInvalidKey);
    assert.throws(() => engine.createDecryptor(keys.secretKey.subarray(1)), isInvalidKey);
    assert.throws(() => engine.createEncryptor(keys.secretKey), (e: unknown) => e instanceof CkksError && e.code === 'invalid_key');
  });

  it('accepts a full-form public key too', () => {
    const { seal, context } = sealInternals(engine);
    const sk = new seal.SecretKey();
    sk.loadFromArray(context, keys.secretKey);
    const kg = new seal.KeyGenerator(context, sk);
    const pk = kg.createPublicKey();
    try {
      const full = pk.saveToArray(seal.ComprModeType.none) as Uint8Array;
      assert.equal(full.length, 32_881);
      assert.deepEqual(validatePublicKey('n2048-q54', full), { ok: true });
      const e = engine.createEncryptor(full);
      const out = dec.decrypt(e.encrypt(new Float64Array([0.5])));
      assert.ok(Math.abs(out[0]! - 0.5) < 1e-6);
      e.dispose();
    } finally {
      pk.delete();
      kg.delete();
      sk.delete();
    }
  });
});
