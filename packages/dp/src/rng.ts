/**
 * Uniform random integers for the exact samplers.
 *
 * Every random choice the samplers make is a call `randomBelow(n)`: a uniform
 * integer in [0, n). The sources here draw bits from a buffered stream of
 * 32-bit words and use rejection sampling (take ⌈log₂ n⌉ bits, retry if the
 * value is ≥ n), so the output is exactly uniform — no modulo bias, no floats.
 *
 * Bits are taken from a bit pool rather than whole words, so a coin flip
 * (n = 2) costs one bit, not 32.
 *
 * @module
 */

import { createCipheriv, createHash, randomFillSync } from 'node:crypto';
import { endianness } from 'node:os';

/** A source of uniform random integers. */
export interface RandomSource {
  /** Uniform integer in [0, n), for any bigint n ≥ 1. */
  randomBelow(n: bigint): bigint;
  /**
   * Optional fast path: uniform integer in [0, n) for a safe integer
   * 1 ≤ n ≤ 2^53 − 1. When present it must consume the stream exactly as
   * `randomBelow(BigInt(n))` does and return the same value, so that the
   * sampler's Number and BigInt code paths see the same randomness.
   */
  randomBelowSafe?(n: number): number;
}

const TWO_32 = 4294967296;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** 2^k for k = 0..32 (avoids a variable-exponent power in the hot path). */
const POW2 = Array.from({ length: 33 }, (_, k) => 2 ** k);
/** Bytes fetched per refill (64 KiB = 16,384 words). */
const BUFFER_BYTES = 1 << 16;

/**
 * A {@link RandomSource} over a stream of 32-bit words. Subclasses fill the
 * byte buffer; words are read little-endian on every platform.
 */
abstract class BufferedWordSource implements RandomSource {
  private readonly bytes = new Uint8Array(BUFFER_BYTES);
  private readonly words = new Uint32Array(this.bytes.buffer, 0, BUFFER_BYTES / 4);
  private readonly bigEndianHost = endianness() === 'BE';
  private pos = BUFFER_BYTES / 4;
  private pool = 0; // unread bits, low bits first
  private poolBits = 0;

  /** Fill `buf` entirely with fresh random (or pseudo-random) bytes. */
  protected abstract refill(buf: Uint8Array): void;

  private nextWord(): number {
    if (this.pos === this.words.length) {
      this.refill(this.bytes);
      if (this.bigEndianHost) Buffer.from(this.bytes.buffer).swap32();
      this.pos = 0;
    }
    return this.words[this.pos++]!;
  }

  /** k uniform bits (1 ≤ k ≤ 32) as an unsigned integer. */
  private takeBits(k: number): number {
    const have = this.poolBits;
    const pool = this.pool; // < 2^have
    if (have >= k) {
      if (k === 32) {
        this.pool = 0;
        this.poolBits = 0;
        return pool;
      }
      this.pool = pool >>> k;
      this.poolBits = have - k;
      return (pool & ((1 << k) - 1)) >>> 0;
    }
    const need = k - have; // 1..32
    const w = this.nextWord();
    let part: number;
    if (need === 32) {
      part = w;
      this.pool = 0;
      this.poolBits = 0;
    } else {
      part = (w & ((1 << need) - 1)) >>> 0;
      this.pool = w >>> need;
      this.poolBits = 32 - need;
    }
    return pool + part * POW2[have]!; // < 2^k ≤ 2^32, exact
  }

  randomBelowSafe(n: number): number {
    if (!(Number.isSafeInteger(n) && n >= 1)) throw new RangeError(`randomBelowSafe needs a safe integer >= 1, got ${n}`);
    if (n === 1) return 0;
    const m = n - 1;
    if (m < TWO_32) {
      const k = 32 - Math.clz32(m);
      for (;;) {
        const r = this.takeBits(k);
        if (r < n) return r;
      }
    }
    const hi = (m - (m % TWO_32)) / TWO_32; // exact: m is a safe integer
    const kh = 32 - Math.clz32(hi);
    for (;;) {
      const h = this.takeBits(kh);
      const l = this.takeBits(32);
      const r = h * TWO_32 + l; // < 2^53, exact
      if (r < n) return r;
    }
  }

  randomBelow(n: bigint): bigint {
    if (n < 1n) throw new RangeError(`randomBelow needs n >= 1, got ${n}`);
    if (n <= MAX_SAFE_BIG) return BigInt(this.randomBelowSafe(Number(n)));
    const bits = (n - 1n).toString(2).length;
    const top = bits % 32 === 0 ? 32 : bits % 32;
    for (;;) {
      let r = BigInt(this.takeBits(top));
      for (let left = bits - top; left > 0; left -= 32) r = (r << 32n) | BigInt(this.takeBits(32));
      if (r < n) return r;
    }
  }
}

/** Cryptographically secure randomness from node:crypto (OpenSSL's CSPRNG). */
class CryptoRandomSource extends BufferedWordSource {
  protected refill(buf: Uint8Array): void {
    randomFillSync(buf);
  }
}

/**
 * A {@link RandomSource} backed by `crypto.randomFillSync`, buffered 64 KiB at
 * a time. Use this for every real release.
 */
export function cryptoRandomSource(): RandomSource {
  return new CryptoRandomSource();
}

/** Deterministic stream: AES-256-CTR keystream under key SHA-256(label ‖ seed). */
class SeededRandomSource extends BufferedWordSource {
  private readonly cipher;
  private readonly zeros = new Uint8Array(BUFFER_BYTES);

  constructor(seed: string | number) {
    super();
    const key = createHash('sha256').update(`secagg/dp seeded-random-source v1\0${String(seed)}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  protected refill(buf: Uint8Array): void {
    buf.set(this.cipher.update(this.zeros));
  }
}

/**
 * TEST ONLY — a deterministic {@link RandomSource}: the AES-256-CTR keystream
 * under the key SHA-256("secagg/dp seeded-random-source v1\0" ‖ seed).
 * The same seed gives the same stream on every platform and Node version.
 * Anyone who knows the seed can predict every "random" value: never use it
 * for a release.
 */
export function seededRandomSource(seed: string | number): RandomSource {
  return new SeededRandomSource(seed);
}
