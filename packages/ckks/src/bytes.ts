/**
 * Little-endian helpers for SEAL's serialization (REFERENCE.md): uint64 as two
 * uint32 halves so no BigInt is needed in hot paths, hex for plain-data fields.
 */

export const TWO_32 = 0x1_0000_0000;

/** A uint64 split into 32-bit halves: value = hi·2^32 + lo. Plain data (structured-cloneable, JSON-safe). */
export interface U64Words {
  readonly hi: number;
  readonly lo: number;
}

export function u64Words(value: bigint): U64Words {
  if (value < 0n || value >= 1n << 64n) throw new RangeError(`not a uint64: ${value}`);
  return { hi: Number(value >> 32n), lo: Number(value & 0xffff_ffffn) };
}

/** Reads a uint64 as a number when exact (< 2^53), else as a decimal string; for messages only. */
export function readU64ForMessage(view: DataView, offset: number): string {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  if (hi < 0x20_0000) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}

export function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) throw new RangeError('invalid hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** A DataView over exactly the bytes of `bytes`, whatever its byteOffset (protobuf-es hands out unaligned views). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
