/**
 * Multiparty CKKS (issue 16: no single decryptor), the pure half: no SEAL.
 *
 * The scheme is the multiparty RLWE of Mouchet, Troncoso-Pastoriza, Bossuat and
 * Hubaux ("Multiparty homomorphic encryption from ring-learning-with-errors",
 * PETS 2021), as Lattigo's `mhe` package implements it, specialised to what a
 * secure sum needs (no relinearisation or rotation keys):
 *
 * - **Collective public key (CKG).** A common random polynomial a, uniform
 *   mod every key-level prime, is expanded from a public seed bound to the
 *   round ({@link collectiveKeySeed}, {@link commonRandomPolynomial}). Each
 *   keyholder i holds a SEAL secret key sᵢ (ternary, SEAL's own sampler) and
 *   publishes pᵢ = −a·sᵢ − eᵢ ({@link CkksEngine.generateKeyShare}). Then
 *   (Σpᵢ, a) = (−a·s − e, a) with s = Σsᵢ and e = Σeᵢ is exactly the shape
 *   of a SEAL public key (`encrypt_zero_asymmetric`'s pk = (−(a·s + e), a)),
 *   so {@link aggregatePublicKey} writes it in SEAL's full serialized form and
 *   clients and aggregators use it unchanged. No party ever holds s.
 * - **Decryption shares.** For a ciphertext (c₀, c₁), keyholder i returns
 *   hᵢ = c₁·sᵢ + νᵢ, with νᵢ its own noise (the DP noise, which also floods the
 *   decryption error and hides sᵢ: docs/PRIVACY.md §5), and one share also
 *   carries c₀. The shares are in the coefficient domain, so
 *   {@link combineDecryptionShares} needs only additions mod q: Σhᵢ + c₀ =
 *   Δm + e_enc + Σνᵢ, decoded like a decryption (no NTT outside SEAL).
 * - **t-of-n** (Asharov et al., EUROCRYPT 2012; Lattigo's threshold
 *   extension): each sᵢ is Shamir-shared, coefficient by coefficient, over
 *   every key-level prime ({@link shamirSplitSecretKey}); keyholder j sums the
 *   shares it received into σⱼ = Σᵢ fᵢ(j) ({@link addSecretKeys}); for a set S
 *   of t keyholders, λⱼ·σⱼ with λⱼ the Lagrange coefficient at 0
 *   ({@link lagrangeScaleSecretKey}) are additive shares of s, so the n-of-n
 *   decryption above applies to S. NTT form is linear, so sharing the NTT
 *   coefficients shares the polynomial.
 *
 * Every key, share and key share is a byte string in SEAL's layout of the key
 * level (all primes, the special prime included — WIRE_FORMAT.md §2), and every
 * scaled or summed secret key is still a valid SEAL `SecretKey` (an NTT-form
 * plaintext whose coefficients are < their prime): SEAL's `Decryptor` does not
 * care that it is no longer ternary. Arithmetic is exact (BigInt) — a key
 * operation is k'·N multiplications, done once per round — except in
 * {@link combineDecryptionShares}, the per-ciphertext path, which adds on
 * 32-bit halves like `add.ts`.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { TWO_32, viewOf } from './bytes.js';
import { readCenteredCoefficients } from './coeff-codec.js';
import { CkksError } from './errors.js';
import { ciphertextFormat, PLAINTEXT_DATA_OFFSET } from './format.js';
import type { ModulusWords } from './format.js';
import { keyFullHeader, publicKeyByteLengths, secretKeyByteLength, validateSecretKey } from './key-format.js';
import { CIPHERTEXT_DATA_OFFSET, getPreset } from './presets.js';
import type { CkksParams, PresetName } from './presets.js';
import { SEAL_CONSTANTS } from './seal-constants.js';
import type { Validation } from './layout-check.js';
import { invalid, VALID } from './layout-check.js';

/** Domain separation of the CKG seed: a seed for one purpose is never read as another's. */
const CKG_DOMAIN = 'secagg-ckg-v1';

/** The key level of a preset: N and its primes (all, the special prime included). */
interface KeyLevel {
  readonly n: number;
  readonly primes: readonly bigint[];
}

function keyLevel(preset: PresetName): KeyLevel {
  return { n: getPreset(preset).polyModulusDegree, primes: SEAL_CONSTANTS[preset].keyPrimes.map(BigInt) };
}

/**
 * The public seed of a round's common random polynomial: SHA-256 of the domain
 * tag and the round id. Bound to the round so a key share made for one round
 * is useless for another, and public so that anyone can recompute a from the
 * signed round statement.
 */
export function collectiveKeySeed(roundId: string): Uint8Array {
  if (typeof roundId !== 'string' || roundId.length === 0) throw new CkksError('invalid_params', 'round id must be a non-empty string');
  return new Uint8Array(createHash('sha256').update(CKG_DOMAIN).update('\0').update(roundId, 'utf8').digest());
}

/**
 * The common random polynomial a of a round, in NTT form at the key level
 * (k'·N coefficients, block j uniform mod prime j). Uniform in the NTT domain is
 * uniform in the coefficient domain (the NTT is a bijection), so no transform
 * is needed. Expansion: SHAKE256(seed ‖ j), 8 bytes per candidate, masked to the
 * prime's bit length and rejected when ≥ q (rejection < ½ per draw).
 */
export function commonRandomPolynomial(preset: PresetName, seed: Uint8Array): BigUint64Array {
  if (!(seed instanceof Uint8Array) || seed.length < 16) throw new CkksError('invalid_params', 'CKG seed must be at least 16 bytes');
  const { n, primes } = keyLevel(preset);
  const out = new BigUint64Array(primes.length * n);
  primes.forEach((q, j) => {
    const mask = (1n << BigInt(q.toString(2).length)) - 1n;
    let filled = 0;
    for (let block = 0; filled < n; block++) {
      // Each block draws a fresh stream (seed, prime, block counter): enough for n values with overwhelming probability.
      const stream = createHash('shake256', { outputLength: 16 * n })
        .update(seed)
        .update(Uint8Array.of(j, block & 0xff, block >> 8))
        .digest();
      const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
      for (let o = 0; o < stream.length && filled < n; o += 8) {
        const x = v.getBigUint64(o, true) & mask;
        if (x < q) out[j * n + filled++] = x;
      }
    }
  });
  return out;
}

/** Byte length of a public key share (pᵢ: k'·N uint64, no header): 65,536 for n4096-q60p49. */
export function publicKeyShareByteLength(preset: PresetName): number {
  const { n, primes } = keyLevel(preset);
  return primes.length * n * 8;
}

/** Checks a public key share: exact length, every coefficient below its prime. Never throws. */
export function validatePublicKeyShare(preset: PresetName, bytes: Uint8Array): Validation {
  if (!(bytes instanceof Uint8Array)) return invalid('public key share is not a byte array');
  const expected = publicKeyShareByteLength(preset);
  if (bytes.length !== expected) return invalid(`public key share length ${bytes.length} != ${expected}`);
  const { n, primes } = keyLevel(preset);
  const v = viewOf(bytes);
  for (let j = 0; j < primes.length; j++) {
    for (let i = 0; i < n; i++) {
      if (v.getBigUint64((j * n + i) * 8, true) >= primes[j]!) return invalid(`public key share coefficient ${i} of prime ${j} >= q`);
    }
  }
  return VALID;
}

/**
 * The round's public key from every keyholder's share: (Σpᵢ mod q, a) in
 * SEAL's full serialized form (113 + 16·k'·N bytes, accepted by
 * `validatePublicKey` and `PublicKey::load`). Shares are validated first.
 */
export function aggregatePublicKey(preset: PresetName, crp: BigUint64Array, shares: readonly Uint8Array[]): Uint8Array {
  const { n, primes } = keyLevel(preset);
  const k = primes.length;
  if (crp.length !== k * n) throw new CkksError('invalid_params', `common random polynomial has ${crp.length} coefficients, expected ${k * n}`);
  if (shares.length === 0) throw new CkksError('invalid_params', 'no public key shares');
  shares.forEach((s, i) => {
    const v = validatePublicKeyShare(preset, s);
    if (!v.ok) throw new CkksError('invalid_key', `public key share ${i}: ${v.reason}`);
  });
  const out = new Uint8Array(publicKeyByteLengths(preset).full);
  out.set(keyFullHeader(preset));
  const ov = viewOf(out);
  const views = shares.map(viewOf);
  for (let j = 0; j < k; j++) {
    const q = primes[j]!;
    for (let i = 0; i < n; i++) {
      const w = j * n + i;
      let acc = 0n;
      for (const sv of views) acc += sv.getBigUint64(w * 8, true);
      ov.setBigUint64(CIPHERTEXT_DATA_OFFSET + w * 8, acc % q, true);
      ov.setBigUint64(CIPHERTEXT_DATA_OFFSET + (k * n + w) * 8, crp[w]!, true);
    }
  }
  return out;
}

/**
 * pᵢ = c₀' + (a' − a)·sᵢ mod q, pointwise in the NTT domain: turns SEAL's own
 * public key (c₀' = −(a'·sᵢ + eᵢ), a') for sᵢ into the share −(a·sᵢ + eᵢ) for
 * the common a, keeping SEAL's error sampling and NTT. Used by the engine.
 */
export function publicKeyShareFrom(preset: PresetName, crp: BigUint64Array, sealPublicKeyFull: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const { n, primes } = keyLevel(preset);
  const k = primes.length;
  if (crp.length !== k * n) throw new CkksError('invalid_params', `common random polynomial has ${crp.length} coefficients, expected ${k * n}`);
  const pk = viewOf(sealPublicKeyFull);
  const sk = viewOf(secretKey);
  const out = new Uint8Array(k * n * 8);
  const ov = viewOf(out);
  for (let j = 0; j < k; j++) {
    const q = primes[j]!;
    for (let i = 0; i < n; i++) {
      const w = j * n + i;
      const c0 = pk.getBigUint64(CIPHERTEXT_DATA_OFFSET + w * 8, true);
      const a1 = pk.getBigUint64(CIPHERTEXT_DATA_OFFSET + (k * n + w) * 8, true);
      const s = sk.getBigUint64(PLAINTEXT_DATA_OFFSET + w * 8, true);
      ov.setBigUint64(w * 8, (c0 + ((a1 + q - crp[w]!) % q) * s) % q, true);
    }
  }
  return out;
}

function checkSecretKey(preset: PresetName, key: Uint8Array, what: string): void {
  const v = validateSecretKey(preset, key);
  if (!v.ok) throw new CkksError('invalid_key', `${what}: ${v.reason}`);
}

/** A SEAL secret key of `preset` whose coefficient w is coeff(j, w) (already reduced mod prime j). */
function buildSecretKey(preset: PresetName, template: Uint8Array, coeff: (j: number, w: number) => bigint): Uint8Array {
  const { n, primes } = keyLevel(preset);
  const out = new Uint8Array(secretKeyByteLength(preset));
  out.set(template.subarray(0, PLAINTEXT_DATA_OFFSET));
  const ov = viewOf(out);
  for (let j = 0; j < primes.length; j++) {
    for (let i = 0; i < n; i++) ov.setBigUint64(PLAINTEXT_DATA_OFFSET + (j * n + i) * 8, coeff(j, j * n + i), true);
  }
  return out;
}

function secretCoefficients(key: Uint8Array): (w: number) => bigint {
  const v = viewOf(key);
  return (w) => v.getBigUint64(PLAINTEXT_DATA_OFFSET + w * 8, true);
}

/**
 * Σ keys mod q, as a SEAL secret key: the collective key from additive shares
 * (tests only — in production no party ever assembles it), and keyholder j's
 * t-of-n share σⱼ = Σᵢ fᵢ(j) from the Shamir shares it received.
 */
export function addSecretKeys(preset: PresetName, keys: readonly Uint8Array[]): Uint8Array {
  if (keys.length === 0) throw new CkksError('invalid_params', 'no secret keys to add');
  keys.forEach((key, i) => checkSecretKey(preset, key, `secret key ${i}`));
  const { primes } = keyLevel(preset);
  const read = keys.map(secretCoefficients);
  return buildSecretKey(preset, keys[0]!, (j, w) => {
    let acc = 0n;
    for (const r of read) acc += r(w);
    return acc % primes[j]!;
  });
}

/** Keyholder ids of a threshold configuration are 1 … n: Shamir evaluation points, never 0 (the secret). */
function checkIds(ids: readonly number[], primes: readonly bigint[]): void {
  const seen = new Set<number>();
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || id < 1 || primes.some((q) => BigInt(id) >= q)) {
      throw new CkksError('invalid_params', `keyholder id ${String(id)} must be a positive integer below every prime`);
    }
    if (seen.has(id)) throw new CkksError('invalid_params', `keyholder id ${id} appears twice`);
    seen.add(id);
  }
}

function uniformBelow(q: bigint): bigint {
  const bits = q.toString(2).length;
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    const x = randomBytes(8).readBigUInt64LE(0) & mask;
    if (x < q) return x;
  }
}

/**
 * Shamir shares of a secret key for a t-of-n configuration: for every key-level
 * coefficient, a random polynomial f of degree t − 1 mod its prime with
 * f(0) = the coefficient; keyholder id gets f(id). Returns one SEAL secret key
 * per id (same order). Any t of them determine the key; t − 1 are uniform and
 * independent of it (information-theoretically).
 */
export function shamirSplitSecretKey(preset: PresetName, secretKey: Uint8Array, ids: readonly number[], threshold: number): Uint8Array[] {
  checkSecretKey(preset, secretKey, 'secret key');
  const { n, primes } = keyLevel(preset);
  checkIds(ids, primes);
  if (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > ids.length) {
    throw new CkksError('invalid_params', `threshold ${String(threshold)} must be an integer in [1, ${ids.length}]`);
  }
  const secret = secretCoefficients(secretKey);
  const k = primes.length;
  const shares = ids.map(() => new BigUint64Array(k * n));
  const coeffs = new Array<bigint>(threshold);
  for (let j = 0; j < k; j++) {
    const q = primes[j]!;
    for (let i = 0; i < n; i++) {
      const w = j * n + i;
      coeffs[0] = secret(w);
      for (let d = 1; d < threshold; d++) coeffs[d] = uniformBelow(q);
      ids.forEach((id, x) => {
        // Horner: f(id) mod q.
        const at = BigInt(id);
        let acc = 0n;
        for (let d = threshold - 1; d >= 0; d--) acc = (acc * at + coeffs[d]!) % q;
        shares[x]![w] = acc;
      });
      coeffs.fill(0n);
    }
  }
  return shares.map((s) => buildSecretKey(preset, secretKey, (_j, w) => s[w]!));
}

function modInverse(a: bigint, q: bigint): bigint {
  // Fermat: q is prime.
  let result = 1n;
  let base = ((a % q) + q) % q;
  let e = q - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % q;
    base = (base * base) % q;
    e >>= 1n;
  }
  return result;
}

/** λ_id for the set `ids` at 0, mod q: Π_{m ∈ ids, m ≠ id} m / (m − id). */
export function lagrangeCoefficient(id: number, ids: readonly number[], q: bigint): bigint {
  let num = 1n;
  let den = 1n;
  const x = BigInt(id);
  for (const m of ids) {
    if (m === id) continue;
    const xm = BigInt(m);
    num = (num * xm) % q;
    den = (den * (((xm - x) % q) + q)) % q;
  }
  return (num * modInverse(den, q)) % q;
}

/**
 * λ_id·σ_id as a SEAL secret key: keyholder `id`'s additive share of s for the
 * decrypting set `ids` (which must contain `id` and have at least t members;
 * with fewer the shares sum to garbage, not to s).
 */
export function lagrangeScaleSecretKey(preset: PresetName, share: Uint8Array, id: number, ids: readonly number[]): Uint8Array {
  checkSecretKey(preset, share, 'secret key share');
  const { primes } = keyLevel(preset);
  checkIds(ids, primes);
  if (!ids.includes(id)) throw new CkksError('invalid_params', `keyholder ${id} is not in the decrypting set ${ids.join(',')}`);
  const lambdas = primes.map((q) => lagrangeCoefficient(id, ids, q));
  const read = secretCoefficients(share);
  return buildSecretKey(preset, share, (j, w) => (read(w) * lambdas[j]!) % primes[j]!);
}

/** The prime a decryption is decoded from (and shares carry): the largest data prime, as the engine decodes. */
export function decodeModulus(params: CkksParams): { index: number; modulus: ModulusWords } {
  const moduli = ciphertextFormat(params).moduli;
  let best = 0;
  moduli.forEach((m, j) => {
    if (m.hi > moduli[best]!.hi || (m.hi === moduli[best]!.hi && m.lo > moduli[best]!.lo)) best = j;
  });
  return { index: best, modulus: moduli[best]! };
}

/**
 * Byte length of one decryption share: N uint64 residues mod the decode prime,
 * coefficient domain, no header (32,768 B for a 4096 preset: 8 B per value with
 * coefficient encoding, half a ciphertext).
 */
export function decryptionShareByteLength(params: CkksParams): number {
  return getPreset(params.preset).polyModulusDegree * 8;
}

/** Checks a decryption share: exact length, every residue below the decode prime. Never throws. */
export function validateDecryptionShare(params: CkksParams, bytes: Uint8Array): Validation {
  if (!(bytes instanceof Uint8Array)) return invalid('decryption share is not a byte array');
  const expected = decryptionShareByteLength(params);
  if (bytes.length !== expected) return invalid(`decryption share length ${bytes.length} != ${expected}`);
  const q = BigInt(decodeModulus(params).modulus.decimal);
  const v = viewOf(bytes);
  for (let i = 0; i < bytes.length; i += 8) {
    if (v.getBigUint64(i, true) >= q) return invalid(`decryption share coefficient ${i / 8} >= q`);
  }
  return VALID;
}

/**
 * Decodes c₀ + Σhᵢ: the shares (exactly one of which carries c₀) added mod the
 * decode prime, centred into (−q/2, q/2] and divided by the scale — what a
 * decryption of the ciphertext under Σsᵢ decodes to, plus Σνᵢ/scale.
 * N values (coefficient encoding). Shares are validated first; with a missing
 * or extra share, or shares for another ciphertext, the output is uniformly
 * random mod q, which is what the range check of the release then refuses.
 */
export function combineDecryptionShares(params: CkksParams, shares: readonly Uint8Array[]): Float64Array {
  if (params.encoding !== 'coefficients') throw new CkksError('invalid_params', 'decryption shares decode coefficient-encoded rounds only');
  if (shares.length === 0) throw new CkksError('invalid_params', 'no decryption shares');
  shares.forEach((s, i) => {
    const v = validateDecryptionShare(params, s);
    if (!v.ok) throw new CkksError('invalid_ciphertext', `decryption share ${i}: ${v.reason}`);
  });
  const n = getPreset(params.preset).polyModulusDegree;
  const m = decodeModulus(params).modulus;
  const acc = new Uint8Array(n * 8);
  acc.set(shares[0]!);
  const a = viewOf(acc);
  for (const share of shares.slice(1)) addPolynomialInto(a, 0, viewOf(share), 0, [m], n);
  const out = new Float64Array(n);
  readCenteredCoefficients(a, 0, m, 2 ** params.scaleBits, out, n);
  return out;
}

/**
 * a[aOffset…] := a + b mod q, for k = moduli.length consecutive blocks of n
 * uint64 residues (one polynomial in SEAL's layout), on 32-bit halves: both
 * inputs are < q < 2^61, so a + b < 2q needs one conditional subtraction
 * (SEAL's add_uint_mod; the same loop as add.ts).
 */
export function addPolynomialInto(a: DataView, aOffset: number, b: DataView, bOffset: number, moduli: readonly ModulusWords[], n: number): void {
  let ao = aOffset;
  let bo = bOffset;
  for (const m of moduli) {
    for (let i = 0; i < n; i++, ao += 8, bo += 8) {
      let lo = a.getUint32(ao, true) + b.getUint32(bo, true);
      let hi = a.getUint32(ao + 4, true) + b.getUint32(bo + 4, true);
      if (lo >= TWO_32) {
        lo -= TWO_32;
        hi += 1;
      }
      if (hi > m.hi || (hi === m.hi && lo >= m.lo)) {
        lo -= m.lo;
        hi -= m.hi;
        if (lo < 0) {
          lo += TWO_32;
          hi -= 1;
        }
      }
      a.setUint32(ao, lo, true);
      a.setUint32(ao + 4, hi, true);
    }
  }
}

/**
 * Writes the residues of the integers `values` (n of them; zeros when
 * undefined) mod every prime of `moduli`, k blocks of n uint64 at `offset`:
 * one polynomial in SEAL's layout. BigInt, as the noise of a decryption share
 * exceeds 2^53 in plaintext units (σ·2^scaleBits).
 */
export function writeIntegerResidues(view: DataView, offset: number, values: BigInt64Array | undefined, moduli: readonly ModulusWords[], n: number): void {
  let off = offset;
  for (const m of moduli) {
    const q = BigInt(m.decimal);
    for (let i = 0; i < n; i++, off += 8) {
      const x = values === undefined ? 0n : values[i]!;
      view.setBigUint64(off, x >= 0n ? x % q : (q - ((-x) % q)) % q, true);
    }
  }
}
