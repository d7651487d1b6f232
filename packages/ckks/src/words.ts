/**
 * Fast access to the uint64 coefficients of a serialization as uint32 pairs.
 *
 * The data starts at byte 113 (odd), so a Uint32Array can almost never view it
 * in place. Copying the region into an aligned scratch buffer (a memcpy,
 * ~3 µs per 64 KB) and running plain typed-array loops is several times
 * faster than per-word DataView calls. Little-endian hosts only (every
 * platform Node ships for but s390x); callers fall back to DataView elsewhere.
 */

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const scratch: ArrayBuffer[] = [new ArrayBuffer(0), new ArrayBuffer(0)];

/**
 * Where bytes[offset, offset + byteLength) can be read as 32-bit words: in place when aligned,
 * else a copy in scratch buffer `slot` (0 or 1), valid until that slot's next use.
 * `copied` tells whether writes must be copied back with {@link writeBack}.
 */
export function wordsOf(bytes: Uint8Array, offset: number, byteLength: number, slot: 0 | 1): { buffer: ArrayBufferLike; byteOffset: number; copied: boolean } {
  const start = bytes.byteOffset + offset;
  if (start % 4 === 0) return { buffer: bytes.buffer, byteOffset: start, copied: false };
  let buf = scratch[slot]!;
  if (buf.byteLength < byteLength) {
    buf = new ArrayBuffer(byteLength);
    scratch[slot] = buf;
  }
  new Uint8Array(buf, 0, byteLength).set(bytes.subarray(offset, offset + byteLength));
  return { buffer: buf, byteOffset: 0, copied: true };
}

/** Copies `words` back into bytes[offset, …) after in-place arithmetic on a scratch copy. */
export function writeBack(bytes: Uint8Array, offset: number, words: Int32Array | Uint32Array): void {
  bytes.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), offset);
}
