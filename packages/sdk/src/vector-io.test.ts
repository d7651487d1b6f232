import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readVector, writeVector } from './vector-io.js';
import { clipToNorm } from './clip.js';

const dir = mkdtempSync(join(tmpdir(), 'secagg-io-'));
const values = Float64Array.from({ length: 1_001 }, (_, i) => Math.fround(Math.sin(i) * 3));

describe('vector files', () => {
  for (const ext of ['f32', 'npy', 'safetensors']) {
    it(`round-trips .${ext} as float32`, () => {
      const path = join(dir, `v.${ext}`);
      writeVector(path, values);
      assert.deepEqual([...readVector(path).values], [...values]);
    });
  }

  it('reads a safetensors adapter with several tensors and dtypes in name order, keeping the layout', () => {
    const f32 = Buffer.from(new Float32Array([1.5, -2]).buffer);
    const f16 = Buffer.from([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
    const bf16 = Buffer.from([0x80, 0x3f]); // 1.0
    const header = {
      'b.lora_B.weight': { dtype: 'F16', shape: [2, 1], data_offsets: [8, 12] },
      'a.lora_A.weight': { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] },
      'c.bias': { dtype: 'BF16', shape: [1], data_offsets: [12, 14] },
      __metadata__: { format: 'pt' },
    };
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    const path = join(dir, 'adapter.safetensors');
    writeFileSync(path, Buffer.concat([length, json, f32, f16, bf16]));
    const loaded = readVector(path);
    assert.deepEqual([...loaded.values], [1.5, -2, 1, -2, 1]);
    assert.deepEqual(loaded.layout.map((t) => t.name), ['a.lora_A.weight', 'b.lora_B.weight', 'c.bias']);
    const out = join(dir, 'out.safetensors');
    writeVector(out, loaded.values, loaded.layout);
    assert.deepEqual(readVector(out).layout, loaded.layout);
  });

  it('refuses unknown extensions and unsupported dtypes with a clear message', () => {
    assert.throws(() => readVector(join(dir, 'x.csv')), /unknown vector file type ".csv"/);
    const path = join(dir, 'big-endian.npy');
    const header = "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }".padEnd(117, ' ') + '\n';
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
    writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.alloc(4)]));
    assert.throws(() => readVector(path), /dtype >f4 is not supported/);
  });

  it('reads integer .npy files (a teacher\'s labels): int64, int32, uint8', () => {
    for (const [descr, bytes] of [
      ['<i8', Buffer.from(new BigInt64Array([3n, 0n, -1n]).buffer)],
      ['<i4', Buffer.from(new Int32Array([3, 0, -1]).buffer)],
      ['|u1', Buffer.from([3, 0, 255])],
    ] as const) {
      const path = join(dir, `labels-${descr.slice(1)}.npy`);
      const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (3,), }`.padEnd(117, ' ') + '\n';
      const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
      writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), bytes]));
      assert.deepEqual([...readVector(path).values], descr === '|u1' ? [3, 0, 255] : [3, 0, -1]);
    }
  });
});

describe('clipToNorm', () => {
  it('scales an update above C to norm <= C and leaves one below C alone', () => {
    const big = clipToNorm([3, 4], 1);
    assert.equal(big.originalNorm, 5);
    assert.equal(big.clipped, true);
    assert.ok(Math.hypot(big.values[0]!, big.values[1]!) <= 1);
    assert.ok(Math.abs(big.values[0]! - 0.6) < 1e-9);
    const small = clipToNorm([0.3, 0.4], 1);
    assert.equal(small.clipped, false);
    assert.deepEqual([...small.values], [0.3, 0.4]);
    assert.throws(() => clipToNorm([1, Number.NaN], 1), /value 1 is not finite/);
  });
});
