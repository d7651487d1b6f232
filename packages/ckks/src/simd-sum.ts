/**
 * A running sum of ciphertexts held in WebAssembly memory, added with SIMD.
 *
 * The aggregator's fold is additions mod q over every coefficient of every
 * update (add.ts explains why that is exactly SEAL's Evaluator::add). In
 * JavaScript that runs at about half of SEAL's load+add; here a 16-byte
 * vector instruction adds two coefficients at once:
 *     s = a + b;  a := s − (q AND (s > q − 1))
 * which is exact for a, b < q < 2^61 (s < 2^62 stays positive in a signed
 * 64-bit lane, so the signed compare is the unsigned one).
 *
 * Zero copies on the hot path: the sum lives in the module's memory, and the
 * caller reads each block of an update straight into `scratch(...)`, a view
 * of the same memory, before `addScratch` adds it in place.
 *
 * The module is 161 bytes assembled below from its text form (no toolchain at
 * build time); each opcode is commented with its WebAssembly text.
 */
import { CkksError } from './errors.js';
import type { CiphertextFormat } from './format.js';

// prettier-ignore
const MODULE_BYTES = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  // type section: (func (param i32 i32 i32 i64))
  0x01, 0x08, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7e, 0x00,
  // import section: (import "env" "memory" (memory 1))
  0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01,
  // function section: one function of type 0
  0x03, 0x02, 0x01, 0x00,
  // export section: (export "addmod" (func 0))
  0x07, 0x0a, 0x01, 0x06, 0x61, 0x64, 0x64, 0x6d, 0x6f, 0x64, 0x00, 0x00,
  // code section: one body
  0x0a, 0x6c, 0x01, 0x6a,
  0x02, 0x03, 0x7b, 0x01, 0x7f, // locals: $qv $qm1 $s v128 (4, 5, 6); $end i32 (7)   params: $a 0, $b 1, $words 2, $q 3
  0x20, 0x02, 0x41, 0x02, 0x49, 0x04, 0x40, 0x0f, 0x0b, // (if (i32.lt_u $words 2) (return))
  0x20, 0x03, 0xfd, 0x12, 0x21, 0x04, // $qv := i64x2.splat $q
  0x20, 0x03, 0x42, 0x01, 0x7d, 0xfd, 0x12, 0x21, 0x05, // $qm1 := i64x2.splat ($q - 1)
  0x20, 0x00, 0x20, 0x02, 0x41, 0x7e, 0x71, 0x41, 0x03, 0x74, 0x6a, 0x21, 0x07, // $end := $a + (($words & -2) << 3)
  0x03, 0x40, // loop
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, //   v128.load $a
  0x20, 0x01, 0xfd, 0x00, 0x00, 0x00, //   v128.load $b
  0xfd, 0xce, 0x01, 0x21, 0x06, //   $s := i64x2.add
  0x20, 0x00, //   address $a
  0x20, 0x06, 0x20, 0x04, 0x20, 0x06, 0x20, 0x05, 0xfd, 0xd9, 0x01, // $s, $qv, i64x2.gt_s $s $qm1
  0xfd, 0x4e, //   v128.and ($qv, mask)
  0xfd, 0xd1, 0x01, //   i64x2.sub $s that
  0xfd, 0x0b, 0x00, 0x00, //   v128.store at $a
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, //   $a += 16
  0x20, 0x01, 0x41, 0x10, 0x6a, 0x21, 0x01, //   $b += 16
  0x20, 0x00, 0x20, 0x07, 0x49, 0x0d, 0x00, //   br_if 0 (i32.lt_u $a $end)
  0x0b, // end loop
  0x0b, // end function
]);

/**
 * The few WebAssembly JS-API types used here (the project's TypeScript libs
 * are ES2023 + Node, which do not declare the WebAssembly namespace).
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;

const PAGE = 65_536;
/** WebAssembly memory is addressed with 32 bits. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - PAGE;

type AddMod = (a: number, b: number, words: number, q: bigint) => void;

/**
 * The running sum of `count` consecutive ciphertexts of one format (a range
 * of an update's ciphertext indexes), plus a scratch area for reading
 * addends. Starts as the zero sum: adding ciphertexts to it gives exactly
 * their sum's serialization (the header is taken from the addends, which
 * validation made identical).
 */
export class CiphertextAccumulator {
  private readonly memory: WasmMemory;
  private readonly addmod: AddMod;
  private readonly moduli: readonly bigint[];
  private readonly sumBytes: number;
  private scratchBytes = 0;

  constructor(
    readonly format: CiphertextFormat,
    /** Ciphertexts in the sum. */
    readonly count: number,
    /** Initial scratch capacity in bytes (grows on demand). */
    scratchBytes = format.byteLength,
  ) {
    if (!(Number.isSafeInteger(count) && count > 0)) throw new RangeError(`count ${count} is not a positive integer`);
    this.sumBytes = count * format.byteLength;
    const bytes = this.sumBytes + scratchBytes;
    if (bytes > MAX_BYTES) throw new RangeError(`a sum of ${count} ciphertexts (${bytes} bytes) exceeds what one accumulator can address`);
    this.memory = new Wasm.Memory({ initial: Math.ceil(bytes / PAGE), maximum: Math.floor(MAX_BYTES / PAGE) });
    compiled ??= new Wasm.Module(MODULE_BYTES);
    const instance = new Wasm.Instance(compiled, { env: { memory: this.memory } });
    this.addmod = instance.exports.addmod as AddMod;
    this.moduli = format.moduli.map((m) => (BigInt(m.hi >>> 0) << 32n) | BigInt(m.lo >>> 0));
    this.scratchBytes = Math.ceil(bytes / PAGE) * PAGE - this.sumBytes;
  }

  /**
   * A writable view of `bytes` bytes of scratch from byte `offset`, to read up
   * to `bytes / format.byteLength` addends into. Valid until a call of
   * `scratch` grows the memory (which detaches older views): a caller that
   * keeps several views asks for the furthest one first.
   */
  scratch(bytes: number, offset = 0): Uint8Array {
    if (offset + bytes > this.scratchBytes) {
      const needed = this.sumBytes + offset + bytes;
      if (needed > MAX_BYTES) throw new RangeError(`scratch of ${bytes} bytes exceeds what one accumulator can address`);
      this.memory.grow(Math.ceil(needed / PAGE) - this.memory.buffer.byteLength / PAGE);
      this.scratchBytes = this.memory.buffer.byteLength - this.sumBytes;
    }
    return new Uint8Array(this.memory.buffer, this.sumBytes + offset, bytes);
  }

  /**
   * Adds the `records` ciphertexts at byte `scratchOffset` of the scratch
   * (default its start) into the sum's ciphertexts [first, first + records).
   * They must have passed validateCiphertext for this format. A fold reads the
   * next block into another part of the scratch while this one is added.
   */
  addScratch(first: number, records: number, scratchOffset = 0): void {
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(records) && first >= 0 && records >= 0 && first + records <= this.count)) {
      throw new RangeError(`records [${first}, ${first + records}) are outside the sum's ${this.count} ciphertexts`);
    }
    if (!(Number.isSafeInteger(scratchOffset) && scratchOffset >= 0) || scratchOffset + records * this.format.byteLength > this.scratchBytes) {
      throw new RangeError(`${records} records at scratch byte ${scratchOffset} do not fit the scratch`);
    }
    const { byteLength, dataOffset, polyModulusDegree: n } = this.format;
    const bytes = new Uint8Array(this.memory.buffer);
    const k = this.moduli.length;
    for (let r = 0; r < records; r++) {
      const acc = (first + r) * byteLength;
      const addend = this.sumBytes + scratchOffset + r * byteLength;
      // The header: the zero sum has none yet, and validation made every addend's the same.
      bytes.copyWithin(acc, addend, addend + dataOffset);
      for (let poly = 0; poly < this.format.polyCount; poly++) {
        for (let j = 0; j < k; j++) {
          const offset = dataOffset + 8 * n * (poly * k + j);
          this.addmod(acc + offset, addend + offset, n, this.moduli[j]!);
        }
      }
    }
  }

  /** A view of ciphertext `index` of the sum (valid until the scratch grows). */
  ciphertext(index: number): Uint8Array {
    if (!(Number.isSafeInteger(index) && index >= 0 && index < this.count)) throw new RangeError(`ciphertext ${index} of ${this.count}`);
    return new Uint8Array(this.memory.buffer, index * this.format.byteLength, this.format.byteLength);
  }

  /** The whole sum, ciphertexts in order (a view; valid until the scratch grows). */
  bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer, 0, this.sumBytes);
  }

  /** Replaces the sum (e.g. with a checkpoint): `bytes` must be `count` valid ciphertexts of this format. */
  load(bytes: Uint8Array): void {
    if (bytes.byteLength !== this.sumBytes) {
      throw new CkksError('invalid_ciphertext', `a sum of ${this.count} ciphertexts is ${this.sumBytes} bytes, not ${bytes.byteLength}`);
    }
    new Uint8Array(this.memory.buffer, 0, this.sumBytes).set(bytes);
  }
}
