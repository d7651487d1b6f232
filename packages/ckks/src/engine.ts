/**
 * The SEAL holder: keys, encryption and decryption. The only module that calls
 * into SEAL (through {@link loadSeal}); everything else in this package is
 * pure TypeScript so gateways and aggregators never need a WASM instance.
 *
 * Discipline, per DESIGN.md §6:
 * - every SEAL object is `.delete()`d: long-lived ones on `dispose()`, scratch
 *   ones reused across calls, temporaries in `finally` blocks;
 * - nothing reaches SEAL's `load` unvalidated (ciphertexts, keys), and values
 *   are range-checked before encoding, so SEAL does not throw on bad input
 *   (each WASM exception leaks stack);
 * - SEAL's `WebAssembly.Exception`s are converted to {@link CkksError}.
 */
import type {
  Ciphertext,
  CKKSEncoder,
  ComprModeType,
  Decryptor,
  Encryptor,
  Evaluator,
  Plaintext,
  SEALContext,
} from 'node-seal';
import { bytesToHex, hexToBytes, viewOf } from './bytes.js';
import { readCenteredCoefficients, writeCoefficientResidues } from './coeff-codec.js';
import { CkksError, sealCall } from './errors.js';
import { buildCiphertextFormat, ciphertextFormat, PLAINTEXT_DATA_OFFSET, writeCiphertextHeader, writePlaintextHeader } from './format.js';
import type { CiphertextFormat } from './format.js';
import { publicKeyByteLengths, validatePublicKey, validateSecretKey } from './key-format.js';
import { addPolynomialInto, publicKeyShareFrom, writeIntegerResidues } from './multiparty.js';
import { assertCkksParams, PRESETS, valuesPerCiphertext } from './presets.js';
import type { CkksParams } from './presets.js';
import { maxRepresentable } from './scale.js';
import { loadSeal } from './seal-runtime.js';
import type { Seal } from './seal-runtime.js';
import { validateCiphertext } from './validate.js';

/** Encrypts chunks of values for one round's public key. */
export interface CkksEncryptor extends Disposable {
  /**
   * Encrypts up to valuesPerCiphertext values (zero-padded) into one
   * serialized ciphertext (compression none, exactly `format.byteLength`
   * bytes). Throws `CkksError('out_of_range')` for a non-finite value or one
   * beyond `maxRepresentable(params)`, which would wrap or make SEAL throw.
   */
  encrypt(values: Float64Array | Float32Array): Uint8Array;
  dispose(): void;
}

/** Decrypts ciphertexts (normally a round's final sum) with the round's secret key. */
export interface CkksDecryptor extends Disposable {
  /** Validates (`validateCiphertext`) first; returns valuesPerCiphertext decoded values. */
  decrypt(ciphertext: Uint8Array): Float64Array;
  dispose(): void;
}

/**
 * One keyholder's side of a threshold decryption (issue 16; multiparty.ts):
 * decryption shares under its key share, never a decryption.
 */
export interface CkksShareDecryptor extends Disposable {
  /**
   * hᵢ = c₁·sᵢ + ν (+ c₀ when `includeC0`; exactly one share of a combination
   * carries it), in the coefficient domain mod the decode prime:
   * `decryptionShareByteLength` bytes. `noise` holds N integers in
   * plaintext units (value · 2^scaleBits), added to coefficient i (every
   * coefficient, padding included: an un-noised coefficient would reveal
   * c₁·sᵢ's decryption error); undefined adds none (noise-free test rounds).
   * Validates the ciphertext first.
   */
  share(ciphertext: Uint8Array, noise: BigInt64Array | undefined, includeC0: boolean): Uint8Array;
  dispose(): void;
}

/** SEAL state shared by an engine and its encryptors and decryptors. */
interface Core {
  readonly seal: Seal;
  readonly context: SEALContext;
  readonly params: CkksParams;
  readonly format: CiphertextFormat;
  readonly none: ComprModeType;
  readonly scale: number;
  readonly valuesPerCiphertext: number;
  readonly maxAbs: number;
  readonly encoder: CKKSEncoder | undefined;
  readonly bridge: NttBridge | undefined;
}

/**
 * node-seal's embind binding accepts only a plain Uint8Array: a Node Buffer
 * (what grpc-js, ioredis and node:crypto hand out) is refused with
 * "expected Uint8Array". Re-view the same memory without copying.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function saveBytes(obj: { saveToArray(mode: ComprModeType): unknown }, none: ComprModeType): Uint8Array {
  return obj.saveToArray(none) as Uint8Array; // node-seal returns a fresh JS-owned copy
}

/**
 * SEAL has no coefficient-encoding API, but its NTT is reachable through
 * ciphertexts (REFERENCE.md "Coefficient encoding, as prototyped"): write the
 * residues as c0 of a crafted non-NTT ciphertext, `cipherTransformToNttInplace`,
 * and copy c0 into a crafted NTT-form Plaintext; decoding runs the inverse.
 * c1 is the constant 1 because SEAL's throwing build refuses to transform a
 * "transparent" ciphertext (c1 = 0).
 */
class NttBridge {
  private readonly rawCt: Uint8Array; // non-NTT template
  private readonly nttCt: Uint8Array; // NTT template
  private readonly ptBytes: Uint8Array;
  private readonly scratch: Ciphertext;
  private readonly evaluator: Evaluator;
  private readonly polyBytes: number;
  private readonly decodeOffset: number;
  private readonly decodeModulus: CiphertextFormat['moduli'][number];

  constructor(
    seal: Seal,
    private readonly context: SEALContext,
    private readonly format: CiphertextFormat,
    private readonly none: ComprModeType,
  ) {
    const n = format.polyModulusDegree;
    const k = format.moduli.length;
    const parmsId = hexToBytes(format.parmsIdHex);
    const scale = 2 ** format.scaleBits;
    this.polyBytes = k * n * 8;
    const common = { totalSize: format.byteLength, parmsId, size: 2, polyModulusDegree: n, coeffModulusCount: k, scale, elementCount: 2 * k * n };
    this.rawCt = new Uint8Array(format.byteLength);
    writeCiphertextHeader(viewOf(this.rawCt), { ...common, isNttForm: false });
    this.nttCt = new Uint8Array(format.byteLength);
    writeCiphertextHeader(viewOf(this.nttCt), { ...common, isNttForm: true });
    for (const ct of [this.rawCt, this.nttCt]) {
      const v = viewOf(ct);
      for (let j = 0; j < k; j++) v.setUint32(format.dataOffset + this.polyBytes + j * n * 8, 1, true); // c1 = 1
    }
    this.ptBytes = new Uint8Array(PLAINTEXT_DATA_OFFSET + this.polyBytes);
    writePlaintextHeader(viewOf(this.ptBytes), parmsId, k * n, scale);
    // Decode from the largest prime alone: the sum is < that prime / 2 (scale.ts).
    let best = 0;
    format.moduli.forEach((m, j) => {
      if (m.hi > format.moduli[best]!.hi || (m.hi === format.moduli[best]!.hi && m.lo > format.moduli[best]!.lo)) best = j;
    });
    this.decodeModulus = format.moduli[best]!;
    this.decodeOffset = format.dataOffset + best * n * 8;
    this.scratch = new seal.Ciphertext();
    try {
      this.evaluator = new seal.Evaluator(context);
    } catch (e) {
      this.scratch.delete();
      throw e;
    }
  }

  /** pt := NTT-form plaintext whose coefficient i is round(values[i]·scale) mod each prime. */
  encode(values: ArrayLike<number>, pt: Plaintext): void {
    const f = this.format;
    const ntt = this.toNtt((view, offset) => writeCoefficientResidues(view, offset, values, 2 ** f.scaleBits, f.moduli, f.polyModulusDegree));
    this.ptBytes.set(ntt.subarray(f.dataOffset, f.dataOffset + this.polyBytes), PLAINTEXT_DATA_OFFSET);
    pt.loadFromArray(this.context, this.ptBytes);
  }

  /**
   * A serialized NTT-form ciphertext whose c0 is the NTT of the polynomial
   * whose residues `writeC0` writes at (view, offset) in SEAL's layout (c1 is
   * NTT(1)); a fresh copy the caller may edit.
   */
  toNtt(writeC0: (view: DataView, offset: number) => void): Uint8Array {
    writeC0(viewOf(this.rawCt), this.format.dataOffset);
    this.scratch.loadFromArray(this.context, this.rawCt);
    this.evaluator.cipherTransformToNttInplace(this.scratch);
    return saveBytes(this.scratch, this.none);
  }

  /** Inverse of {@link encode}: the N centred coefficients of an NTT-form plaintext, divided by the scale. */
  decode(pt: Plaintext): Float64Array {
    const f = this.format;
    const out = new Float64Array(f.polyModulusDegree);
    readCenteredCoefficients(viewOf(this.fromNtt(pt)), this.decodeOffset, this.decodeModulus, 2 ** f.scaleBits, out, out.length);
    return out;
  }

  /** The residues of an NTT-form plaintext in the coefficient domain, as c0 of a serialized ciphertext (decode prime at {@link decodeOffset}). */
  fromNtt(pt: Plaintext): Uint8Array {
    const f = this.format;
    const bytes = saveBytes(pt, this.none);
    this.nttCt.set(bytes.subarray(PLAINTEXT_DATA_OFFSET, PLAINTEXT_DATA_OFFSET + this.polyBytes), f.dataOffset);
    this.scratch.loadFromArray(this.context, this.nttCt);
    this.evaluator.cipherTransformFromNttInplace(this.scratch);
    return saveBytes(this.scratch, this.none);
  }

  /** Byte offset, in {@link fromNtt}'s output, of the decode prime's block of c0. */
  get decodeBlockOffset(): number {
    return this.decodeOffset;
  }

  dispose(): void {
    this.scratch.delete();
    this.evaluator.delete();
  }
}

function checkValues(core: Core, values: Float64Array | Float32Array): void {
  if (!(values instanceof Float64Array || values instanceof Float32Array)) {
    throw new CkksError('invalid_params', 'values must be a Float64Array or Float32Array');
  }
  if (values.length > core.valuesPerCiphertext) {
    throw new CkksError('invalid_params', `${values.length} values > ${core.valuesPerCiphertext} per ciphertext`);
  }
  const max = core.maxAbs;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (!(x <= max && x >= -max)) {
      throw new CkksError(
        'out_of_range',
        Number.isFinite(x) ? `value ${i} (${x}) exceeds ±${max} representable at scale 2^${core.params.scaleBits}` : `value ${i} is not finite`,
      );
    }
  }
}

class SealEncryptor implements CkksEncryptor {
  private disposed = false;
  private readonly pt: Plaintext;
  private readonly ct: Ciphertext;

  constructor(
    private readonly core: Core,
    private readonly encryptor: Encryptor,
    private readonly onDispose: (child: SealEncryptor) => void,
  ) {
    this.pt = new core.seal.Plaintext();
    this.ct = new core.seal.Ciphertext();
  }

  encrypt(values: Float64Array | Float32Array): Uint8Array {
    if (this.disposed) throw new CkksError('disposed', 'encryptor is disposed');
    const core = this.core;
    checkValues(core, values);
    return sealCall('encrypt', () => {
      if (core.bridge !== undefined) {
        core.bridge.encode(values, this.pt);
      } else {
        const input = values instanceof Float64Array ? values : Float64Array.from(values);
        core.encoder!.encode(input, core.scale, this.pt); // SEAL zero-pads to N/2 slots
      }
      this.encryptor.encrypt(this.pt, this.ct);
      return saveBytes(this.ct, core.none);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.encryptor.delete();
    this.pt.delete();
    this.ct.delete();
    this.onDispose(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

class SealDecryptor implements CkksDecryptor {
  private disposed = false;
  private readonly pt: Plaintext;
  private readonly ct: Ciphertext;

  constructor(
    private readonly core: Core,
    private readonly decryptor: Decryptor,
    private readonly onDispose: (child: SealDecryptor) => void,
  ) {
    this.pt = new core.seal.Plaintext();
    this.ct = new core.seal.Ciphertext();
  }

  decrypt(ciphertext: Uint8Array): Float64Array {
    if (this.disposed) throw new CkksError('disposed', 'decryptor is disposed');
    const core = this.core;
    const v = validateCiphertext(core.format, ciphertext);
    if (!v.ok) throw new CkksError('invalid_ciphertext', `invalid ciphertext: ${v.reason}`);
    return sealCall('decrypt', () => {
      this.ct.loadFromArray(core.context, plainBytes(ciphertext));
      this.decryptor.decrypt(this.ct, this.pt);
      if (core.bridge !== undefined) return core.bridge.decode(this.pt);
      return core.encoder!.decodeFloat64(this.pt) as Float64Array; // a fresh JS-owned copy
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decryptor.delete();
    this.pt.delete();
    this.ct.delete();
    this.onDispose(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Computes one keyholder's decryption shares hᵢ = c₁·sᵢ + νᵢ (multiparty.ts)
 * with SEAL: the noise polynomial νᵢ is brought to NTT form through the bridge,
 * the ciphertext (NTT(νᵢ) [+ c₀], c₁) is decrypted under the key share sᵢ
 * (SEAL computes c0 + c1·s pointwise), and the result is brought back to the
 * coefficient domain, where the combiner only adds.
 */
class SealShareDecryptor implements CkksShareDecryptor {
  private disposed = false;
  private readonly pt: Plaintext;
  private readonly ct: Ciphertext;

  constructor(
    private readonly core: Core,
    private readonly bridge: NttBridge,
    private readonly decryptor: Decryptor,
    private readonly onDispose: (child: SealShareDecryptor) => void,
  ) {
    this.pt = new core.seal.Plaintext();
    this.ct = new core.seal.Ciphertext();
  }

  share(ciphertext: Uint8Array, noise: BigInt64Array | undefined, includeC0: boolean): Uint8Array {
    if (this.disposed) throw new CkksError('disposed', 'share decryptor is disposed');
    const f = this.core.format;
    const n = f.polyModulusDegree;
    const v = validateCiphertext(f, ciphertext);
    if (!v.ok) throw new CkksError('invalid_ciphertext', `invalid ciphertext: ${v.reason}`);
    if (noise !== undefined && noise.length !== n) throw new CkksError('invalid_params', `${noise.length} noise coefficients != ${n}`);
    return sealCall('compute a decryption share', () => {
      const bytes = this.bridge.toNtt((view, offset) => writeIntegerResidues(view, offset, noise, f.moduli, n));
      const polyBytes = f.moduli.length * n * 8;
      const c1 = f.dataOffset + polyBytes;
      bytes.set(ciphertext.subarray(c1, c1 + polyBytes), c1);
      if (includeC0) addPolynomialInto(viewOf(bytes), f.dataOffset, viewOf(ciphertext), f.dataOffset, f.moduli, n);
      this.ct.loadFromArray(this.core.context, bytes);
      this.decryptor.decrypt(this.ct, this.pt);
      const coeffs = this.bridge.fromNtt(this.pt);
      const at = this.bridge.decodeBlockOffset;
      return coeffs.slice(at, at + n * 8);
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decryptor.delete();
    this.pt.delete();
    this.ct.delete();
    this.onDispose(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function dataLevelOf(context: SEALContext): { hex: string; primes: string[] } {
  const data = context.firstContextData();
  const pid = data.parmsId();
  const parms = data.parms();
  const moduli = parms.coeffModulus();
  try {
    const words = pid.values() as BigUint64Array;
    const hex = bytesToHex(new Uint8Array(BigUint64Array.from(words).buffer));
    const primes: string[] = [];
    for (let i = 0; i < moduli.size(); i++) {
      const m = moduli.get(i);
      if (m === undefined) throw new CkksError('seal_mismatch', `SEAL returned no modulus ${i}`);
      primes.push(m.value().toString());
      m.delete();
    }
    return { hex, primes };
  } finally {
    moduli.delete();
    parms.delete();
    pid.delete();
    data.delete();
  }
}

/**
 * Holds one SEAL context for one {@link CkksParams} and creates keys,
 * encryptors and decryptors for it. Create with {@link CkksEngine.create};
 * `dispose()` (or `using`) frees the SEAL memory of the engine and of every
 * encryptor and decryptor it created.
 */
export class CkksEngine implements Disposable {
  /** The parameters this engine was created with. */
  readonly params: CkksParams;
  /** The round's ciphertext format, computed from SEAL (checked against the recorded constants). */
  readonly format: CiphertextFormat;
  private readonly core: Core;
  private readonly children = new Set<{ dispose(): void }>();
  private disposed = false;

  private constructor(core: Core) {
    this.core = core;
    this.params = core.params;
    this.format = core.format;
  }

  /** Loads SEAL (once per thread) and builds the context for `params`. */
  static async create(params: CkksParams): Promise<CkksEngine> {
    assertCkksParams(params);
    const own: CkksParams = Object.freeze({ preset: params.preset, encoding: params.encoding, scaleBits: params.scaleBits });
    const seal = await loadSeal();
    const preset = PRESETS[own.preset];
    const created: { delete(): void }[] = [];
    try {
      return sealCall('create the CKKS context', () => {
        const parms = new seal.EncryptionParameters(seal.SchemeType.ckks);
        created.push(parms);
        parms.setPolyModulusDegree(preset.polyModulusDegree);
        const chain = seal.CoeffModulus.Create(preset.polyModulusDegree, Int32Array.from(preset.coeffModulusBits));
        created.push(chain);
        parms.setCoeffModulus(chain);
        const context = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
        if (!context.parametersSet()) {
          context.delete();
          throw new CkksError('invalid_params', `SEAL rejected preset ${preset.name} at 128-bit security`);
        }
        created.length = 0;
        parms.delete();
        chain.delete();
        try {
          const { hex, primes } = dataLevelOf(context);
          const format = buildCiphertextFormat(own, hex, primes);
          const recorded = ciphertextFormat(own);
          if (format.headerHex !== recorded.headerHex || JSON.stringify(format.moduli) !== JSON.stringify(recorded.moduli)) {
            throw new CkksError('seal_mismatch', `SEAL computed other parameters for ${preset.name} than seal-constants.ts records (node-seal version?)`);
          }
          const encoder = own.encoding === 'slots' ? new seal.CKKSEncoder(context) : undefined;
          const bridge = own.encoding === 'coefficients' ? new NttBridge(seal, context, format, seal.ComprModeType.none) : undefined;
          return new CkksEngine({
            seal,
            context,
            params: own,
            format,
            none: seal.ComprModeType.none,
            scale: 2 ** own.scaleBits,
            valuesPerCiphertext: valuesPerCiphertext(own),
            maxAbs: maxRepresentable(own, 1),
            encoder,
            bridge,
          });
        } catch (e) {
          context.delete();
          throw e;
        }
      });
    } finally {
      for (const o of created) o.delete();
    }
  }

  private live(): Core {
    if (this.disposed) throw new CkksError('disposed', 'CKKS engine is disposed');
    return this.core;
  }

  /**
   * A fresh key pair, serialized with compression none. The public key is in
   * SEAL's seeded form (c1 regenerated from a 64-byte seed on load: 32,962
   * bytes instead of 65,649 for n4096-q54).
   */
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
    const core = this.live();
    return sealCall('generate keys', () => {
      const keygen = new core.seal.KeyGenerator(core.context);
      try {
        const pk = keygen.createPublicKeySerializable();
        const sk = keygen.secretKey();
        try {
          return { publicKey: saveBytes(pk, core.none), secretKey: saveBytes(sk, core.none) };
        } finally {
          pk.delete();
          sk.delete();
        }
      } finally {
        keygen.delete();
      }
    });
  }

  /** An encryptor for `publicKey`, which is validated (length, header, coefficients) before SEAL loads it. */
  createEncryptor(publicKey: Uint8Array): CkksEncryptor {
    const core = this.live();
    const v = validatePublicKey(core.params.preset, publicKey);
    if (!v.ok) throw new CkksError('invalid_key', `invalid public key: ${v.reason}`);
    const encryptor = sealCall('load the public key', () => {
      const pk = new core.seal.PublicKey();
      try {
        pk.loadFromArray(core.context, plainBytes(publicKey));
        return new core.seal.Encryptor(core.context, pk); // copies the key
      } finally {
        pk.delete();
      }
    });
    const child = new SealEncryptor(core, encryptor, (c) => this.children.delete(c));
    this.children.add(child);
    return child;
  }

  /** A decryptor for `secretKey`, which is validated before SEAL loads it. */
  createDecryptor(secretKey: Uint8Array): CkksDecryptor {
    const core = this.live();
    const v = validateSecretKey(core.params.preset, secretKey);
    if (!v.ok) throw new CkksError('invalid_key', `invalid secret key: ${v.reason}`);
    const decryptor = sealCall('load the secret key', () => {
      const sk = new core.seal.SecretKey();
      try {
        sk.loadFromArray(core.context, plainBytes(secretKey));
        return new core.seal.Decryptor(core.context, sk);
      } finally {
        sk.delete();
      }
    });
    const child = new SealDecryptor(core, decryptor, (c) => this.children.delete(c));
    this.children.add(child);
    return child;
  }

  /**
   * This keyholder's part of a round's collective key (multiparty.ts): a fresh
   * SEAL secret key sᵢ (the secret share, SEAL's serialized form) and
   * pᵢ = −(a·sᵢ + eᵢ) for the round's common random polynomial `crp`
   * (`publicShare`, `publicKeyShareByteLength` bytes). SEAL samples sᵢ and eᵢ
   * and does the NTT; only the change of a is done here.
   */
  generateKeyShare(crp: BigUint64Array): { publicShare: Uint8Array; secretShare: Uint8Array } {
    const core = this.live();
    const { publicKey, secretKey } = sealCall('generate a key share', () => {
      const keygen = new core.seal.KeyGenerator(core.context);
      try {
        const pk = keygen.createPublicKey(); // full form: c1 = a' in the clear
        const sk = keygen.secretKey();
        try {
          return { publicKey: saveBytes(pk, core.none), secretKey: saveBytes(sk, core.none) };
        } finally {
          pk.delete();
          sk.delete();
        }
      } finally {
        keygen.delete();
      }
    });
    if (publicKey.length !== publicKeyByteLengths(core.params.preset).full) {
      throw new CkksError('seal_mismatch', `SEAL wrote a ${publicKey.length}-byte public key, expected the full form`);
    }
    return { publicShare: publicKeyShareFrom(core.params.preset, crp, publicKey, secretKey), secretShare: secretKey };
  }

  /**
   * A share decryptor for a (possibly Lagrange-scaled) secret key share,
   * validated before SEAL loads it. Coefficient encoding only: shares are
   * combined in the coefficient domain (`combineDecryptionShares`).
   */
  createShareDecryptor(secretShare: Uint8Array): CkksShareDecryptor {
    const core = this.live();
    if (core.bridge === undefined) throw new CkksError('invalid_params', 'decryption shares need coefficient encoding');
    const bridge = core.bridge;
    const v = validateSecretKey(core.params.preset, secretShare);
    if (!v.ok) throw new CkksError('invalid_key', `invalid secret key share: ${v.reason}`);
    const decryptor = sealCall('load the secret key share', () => {
      const sk = new core.seal.SecretKey();
      try {
        sk.loadFromArray(core.context, plainBytes(secretShare));
        return new core.seal.Decryptor(core.context, sk);
      } finally {
        sk.delete();
      }
    });
    const child = new SealShareDecryptor(core, bridge, decryptor, (c) => this.children.delete(c));
    this.children.add(child);
    return child;
  }

  /** Frees every SEAL object of this engine and of its encryptors and decryptors. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    for (const c of [...this.children]) c.dispose();
    this.disposed = true;
    this.core.bridge?.dispose();
    this.core.encoder?.delete();
    this.core.context.delete();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Test and benchmark access to the engine's SEAL objects (not exported from the package). */
export function sealInternals(engine: CkksEngine): { seal: Seal; context: SEALContext } {
  const core = (engine as unknown as { live(): Core }).live();
  return { seal: core.seal, context: core.context };
}
