/**
 * Update vectors on disk, by file extension:
 *  - `.f32` / `.bin` / `.raw`: raw little-endian float32;
 *  - `.npy`: NumPy format 1.0-3.0, dtypes <f4, <f8, <f2 (and integers <i8, <i4, |u1, |i1, |b1,
 *    e.g. a teacher's labels), C order, any shape (flattened);
 *  - `.safetensors`: the format PEFT/LoRA adapters are saved in; dtypes F32, F64,
 *    F16, BF16; tensors concatenated in name order, each flattened.
 * Reading returns float64; writing uses float32 (npy and safetensors keep
 * tensor names and shapes from a template when one is given).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';

export interface TensorLayout {
  name: string;
  shape: number[];
}

export interface LoadedVector {
  values: Float64Array;
  /** Tensor names and shapes (safetensors), in the order the values are laid out. */
  layout: TensorLayout[];
}

export function formatOfPath(path: string): 'raw' | 'npy' | 'safetensors' {
  const ext = extname(path).toLowerCase();
  if (ext === '.npy') return 'npy';
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.f32' || ext === '.bin' || ext === '.raw') return 'raw';
  throw new Error(`unknown vector file type "${ext}": use .f32/.bin (raw float32 LE), .npy or .safetensors`);
}

export function readVector(path: string): LoadedVector {
  const format = formatOfPath(path);
  const bytes = readFileSync(path);
  switch (format) {
    case 'raw':
      return { values: decode(bytes, 'F32', `${path}`), layout: [{ name: 'values', shape: [bytes.length / 4] }] };
    case 'npy':
      return readNpy(bytes, path);
    case 'safetensors':
      return readSafetensors(bytes, path);
  }
}

export function writeVector(path: string, values: Float64Array, layout?: TensorLayout[]): void {
  const f32 = Float32Array.from(values);
  const body = Buffer.from(f32.buffer);
  switch (formatOfPath(path)) {
    case 'raw':
      writeFileSync(path, body);
      return;
    case 'npy': {
      let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${values.length},), }`;
      const total = 10 + header.length + 1;
      header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
      const preamble = Buffer.alloc(10);
      preamble.write('\x93NUMPY', 0, 'latin1');
      preamble[6] = 1;
      preamble[7] = 0;
      preamble.writeUInt16LE(header.length, 8);
      writeFileSync(path, Buffer.concat([preamble, Buffer.from(header, 'latin1'), body]));
      return;
    }
    case 'safetensors': {
      const tensors = layout && layout.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0) === values.length
        ? layout
        : [{ name: 'values', shape: [values.length] }];
      const header: Record<string, unknown> = {};
      let offset = 0;
      for (const t of tensors) {
        const size = t.shape.reduce((a, b) => a * b, 1) * 4;
        header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + size] };
        offset += size;
      }
      let json = JSON.stringify(header);
      json += ' '.repeat((8 - (json.length % 8)) % 8);
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
      writeFileSync(path, Buffer.concat([length, Buffer.from(json), body]));
      return;
    }
  }
}

type DType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'I8';
const WIDTH: Record<DType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, I8: 1 };

function decode(bytes: Uint8Array, dtype: DType, where: string): Float64Array {
  const width = WIDTH[dtype];
  if (bytes.byteLength % width !== 0) throw new Error(`${where}: ${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(bytes.byteLength / width);
  for (let i = 0; i < out.length; i++) {
    switch (dtype) {
      case 'F32': out[i] = view.getFloat32(i * 4, true); break;
      case 'F64': out[i] = view.getFloat64(i * 8, true); break;
      case 'F16': out[i] = halfToNumber(view.getUint16(i * 2, true)); break;
      case 'BF16': out[i] = bf16ToNumber(view.getUint16(i * 2, true)); break;
      case 'I64': out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = view.getInt32(i * 4, true); break;
      case 'U8': out[i] = view.getUint8(i); break;
      case 'I8': out[i] = view.getInt8(i); break;
    }
  }
  return out;
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const bf16Scratch = new DataView(new ArrayBuffer(4));
function bf16ToNumber(b: number): number {
  bf16Scratch.setUint32(0, b << 16);
  return bf16Scratch.getFloat32(0);
}

function readNpy(bytes: Buffer, path: string): LoadedVector {
  if (bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${path}: not a .npy file (bad magic)`);
  const major = bytes[6]!;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${path}: unreadable .npy header`);
  const dtype = ({ '<f4': 'F32', '<f8': 'F64', '<f2': 'F16', '<i8': 'I64', '<i4': 'I32', '|u1': 'U8', '|i1': 'I8', '|b1': 'U8' } as Record<string, DType>)[descr];
  if (!dtype) throw new Error(`${path}: dtype ${descr} is not supported (use float16/32/64 or int8/32/64, uint8, bool; little-endian)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran === 'True' && shape.length > 1) throw new Error(`${path}: Fortran-ordered arrays are not supported`);
  const values = decode(bytes.subarray(start + headerLength), dtype, path);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (values.length !== expected) throw new Error(`${path}: ${values.length} values, header says ${expected}`);
  return { values, layout: [{ name: 'values', shape }] };
}

function readSafetensors(bytes: Buffer, path: string): LoadedVector {
  if (bytes.length < 8) throw new Error(`${path}: too short for safetensors`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.length - 8 || headerLength > 100 * 1024 * 1024) throw new Error(`${path}: bad safetensors header length`);
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = bytes.subarray(8 + headerLength);
  const names = Object.keys(header).filter((n) => n !== '__metadata__').sort();
  const parts: Float64Array[] = [];
  const layout: TensorLayout[] = [];
  for (const name of names) {
    const t = header[name]!;
    if (!(t.dtype in WIDTH)) throw new Error(`${path}: tensor ${name} has dtype ${t.dtype}; supported: F32, F64, F16, BF16, I64, I32, U8, I8`);
    const [begin, end] = t.data_offsets;
    if (!(begin >= 0 && end >= begin && end <= data.length)) throw new Error(`${path}: tensor ${name} has bad offsets`);
    parts.push(decode(data.subarray(begin, end), t.dtype as DType, `${path}:${name}`));
    layout.push({ name, shape: t.shape });
  }
  const values = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    values.set(p, offset);
    offset += p.length;
  }
  return { values, layout };
}
