/** Little-endian float64 runs, as released values travel on the wire and in Redis. */

/** A copy of `values` as little-endian bytes (this platform is little-endian, as Node's targets are). */
export function float64ToBytes(values: Float64Array): Buffer {
  return Buffer.from(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

/** Decodes little-endian float64 bytes at any alignment. */
export function bytesToFloat64(bytes: Uint8Array): Float64Array {
  if (bytes.byteLength % 8 !== 0) throw new RangeError(`float64 run of ${bytes.byteLength} bytes is not a multiple of 8`);
  // Buffer#slice is a view, not a copy: copy through Uint8Array to get an aligned buffer.
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  return new Float64Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 8);
}
