/**
 * verifiedResultValues on a real filesystem ciphertext store: an object that
 * matches its record is streamed in blocks; a missing, short, altered or
 * mis-recorded one is refused (DATA_LOSS, result_missing / result_corrupt)
 * before the first value; bytes altered after the check end the stream with
 * result_corrupt.
 */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, isSecaggError } from '@secagg/core';
import { FsCiphertextStore } from '@secagg/ciphertext-store';
import type { ResultObject } from '@secagg/store';
import { RESULT_READ_BLOCK_BYTES, verifiedResultValues } from './result-object.js';

const LENGTH = RESULT_READ_BLOCK_BYTES / 8 + 1_000; // two blocks

function refusedWith(reason: string) {
  return (error: unknown) => isSecaggError(error, Code.DataLoss) && error.reason === reason;
}

describe('verifiedResultValues', () => {
  const root = mkdtempSync(join(tmpdir(), 'result-object-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const values = Float64Array.from({ length: LENGTH }, (_, i) => i * 0.5 - 7);
  const bytes = new Uint8Array(values.buffer);
  const record: ResultObject = { name: 'result-0123456789abcdef', sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };

  async function collect(store: FsCiphertextStore, recorded = record, length = LENGTH): Promise<Float64Array[]> {
    const blocks: Float64Array[] = [];
    for await (const block of verifiedResultValues(store, 'r', recorded, length)) blocks.push(block);
    return blocks;
  }

  it('streams an intact object in blocks', async () => {
    const store = await FsCiphertextStore.open(root);
    await store.put({ roundId: 'r', name: record.name }, bytes);
    const blocks = await collect(store);
    assert.deepEqual(blocks.map((b) => b.length), [RESULT_READ_BLOCK_BYTES / 8, 1_000]);
    assert.deepEqual(Float64Array.from(blocks.flatMap((b) => [...b])), values);
  });

  it('refuses a missing, short, altered or mis-recorded object before any value', async () => {
    const store = await FsCiphertextStore.open(root);
    await assert.rejects(collect(store, { ...record, name: 'result-ffffffffffffffff' }), refusedWith('result_missing'));
    await assert.rejects(collect(store, record, LENGTH + 1), refusedWith('result_corrupt'), 'a record that is not the vector length');
    await store.put({ roundId: 'r', name: 'short' }, bytes.subarray(8));
    await assert.rejects(collect(store, { ...record, name: 'short' }), refusedWith('result_corrupt'));
    const altered = Uint8Array.from(bytes);
    altered[bytes.byteLength - 1]! ^= 0x80;
    await store.put({ roundId: 'r', name: 'altered' }, altered);
    const stream = verifiedResultValues(store, 'r', { ...record, name: 'altered' }, LENGTH);
    await assert.rejects(stream.next(), refusedWith('result_corrupt'), 'refused at the first value: nothing is sent');
  });

  it('ends with result_corrupt when the bytes change after the check', async () => {
    const store = await FsCiphertextStore.open(root);
    await store.put({ roundId: 'r', name: 'changing' }, bytes);
    const stream = verifiedResultValues(store, 'r', { ...record, name: 'changing' }, LENGTH);
    assert.equal((await stream.next()).value?.length, RESULT_READ_BLOCK_BYTES / 8, 'the first block, after the check');
    const altered = Uint8Array.from(bytes);
    altered[bytes.byteLength - 1]! ^= 0x80;
    writeFileSync(join(root, 'r', 'changing'), altered);
    assert.equal((await stream.next()).value?.length, 1_000, 'the last block');
    await assert.rejects(stream.next(), refusedWith('result_corrupt'), 'instead of the end of the stream');
  });
});
