/**
 * The CiphertextStore contract as one test suite, run against every
 * implementation (fs-store.test.ts, s3-store.test.ts) with the same
 * assertions, so the gateway and the aggregators can rely on any of them.
 */
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CiphertextStore } from '../ciphertext-store.js';

export interface ContractStore {
  readonly store: CiphertextStore;
  /** Where the store is, as `openCiphertextStore` takes it (a crashing child process opens the same store). */
  readonly location: string;
  /** Staged state the store holds outside committed objects (fs: staging files; S3: multipart-upload markers). */
  stagedCount(): Promise<number>;
  close(): Promise<void>;
}

export interface ContractHarness {
  /** A fresh, empty store. */
  open(): Promise<ContractStore>;
  /** Bytes a writer appends before it is killed, enough that the store holds staged state for it (S3: past one part). */
  readonly crashAppendBytes: number;
}

const RECORD = 1_000;
const MiB = 1 << 20;

async function collect(blocks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const block of blocks) out.push(block);
  return out;
}

/**
 * Live ArrayBuffer bytes: what the process really holds. Two full
 * collections, because buffers kept by finished I/O requests (fs reads,
 * sockets) are only released by the second.
 */
const liveArrayBuffers: () => number = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
    return process.memoryUsage().arrayBuffers;
  };
})();

export function describeCiphertextStoreContract(name: string, harness: ContractHarness): void {
  describe(`${name}: the CiphertextStore contract`, () => {
    let opened: ContractStore;
    let store: CiphertextStore;
    beforeEach(async () => {
      opened = await harness.open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('a staged object is invisible until committed, then reads back exactly, in blocks of whole records', async () => {
      const records = Array.from({ length: 7 }, () => new Uint8Array(randomBytes(RECORD)));
      const staged = await store.stage({ roundId: 'r1', name: 'u1' });
      for (const record of records) await staged.append(record);
      assert.equal(staged.size, 7 * RECORD);
      assert.equal(await store.get({ roundId: 'r1', name: 'u1' }), undefined, 'invisible while staged');
      assert.equal(await store.size({ roundId: 'r1', name: 'u1' }), undefined, 'invisible while staged');
      assert.deepEqual(await store.rounds(), [], 'no round while nothing is committed');
      await staged.commit();
      assert.equal(await store.size({ roundId: 'r1', name: 'u1' }), 7 * RECORD);
      await assert.rejects(staged.append(new Uint8Array(1)), /is committed/);

      // Records 2..6 in blocks of at most 2,500 bytes: 2 records each, the last one alone.
      const blocks = await collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 2, 5, 2_500));
      assert.deepEqual(blocks.map((b) => b.byteLength), [2 * RECORD, 2 * RECORD, RECORD]);
      assert.deepEqual(Buffer.concat(blocks), Buffer.concat(records.slice(2, 7)));
      // A block smaller than one record still reads one record at a time.
      assert.equal((await collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 0, 3, 10))).length, 3);
      assert.deepEqual(await collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 7, 0)), []);
      await assert.rejects(collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 5, 3)), /holds 7 records, not \[5, 8\)/);
      await assert.rejects(collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 8, 1)), /holds 7 records, not \[8, 9\)/);
      // readInto: straight into a caller's buffer, at any offset.
      const into = new Uint8Array(3 * RECORD + 10).subarray(10);
      await store.readInto({ roundId: 'r1', name: 'u1' }, 4 * RECORD, into);
      assert.deepEqual(Buffer.from(into), Buffer.concat(records.slice(4, 7)));
      await assert.rejects(store.readInto({ roundId: 'r1', name: 'u1' }, 5 * RECORD, into), /holds 7000 bytes, not \[5000, 8000\)/);
      // openReader: several reads of one open object, the same bounds as readInto; close is idempotent.
      const reader = await store.openReader({ roundId: 'r1', name: 'u1' });
      const first = new Uint8Array(2 * RECORD);
      await reader.readInto(5 * RECORD, first);
      assert.deepEqual(Buffer.from(first), Buffer.concat(records.slice(5, 7)));
      await reader.readInto(0, first);
      assert.deepEqual(Buffer.from(first), Buffer.concat(records.slice(0, 2)));
      await assert.rejects(reader.readInto(6 * RECORD, first), /holds 7000 bytes, not \[6000, 8000\)/);
      await reader.close();
      await reader.close();
      // A missing object: the same ENOENT from every store.
      await assert.rejects(collect(store.readRecords({ roundId: 'r1', name: 'missing' }, RECORD, 0, 1)), { code: 'ENOENT' });
      await assert.rejects(store.readInto({ roundId: 'r1', name: 'missing' }, 0, into), { code: 'ENOENT' });
      await assert.rejects(store.openReader({ roundId: 'r1', name: 'missing' }), { code: 'ENOENT' });
      assert.deepEqual(await store.get({ roundId: 'r1', name: 'u1' }), new Uint8Array(Buffer.concat(records)));
      assert.deepEqual(await store.rounds(), ['r1']);
      assert.equal(await opened.stagedCount(), 0);
    });

    it('abort leaves nothing; put replaces a checkpoint atomically; delete and deleteRound remove objects', async () => {
      const staged = await store.stage({ roundId: 'r2', name: 'u1' });
      await staged.append(new Uint8Array(10));
      await staged.abort();
      await staged.abort(); // idempotent
      await assert.rejects(staged.append(new Uint8Array(1)), /is aborted/);
      await assert.rejects(staged.commit(), /is aborted/);
      assert.equal(await store.get({ roundId: 'r2', name: 'u1' }), undefined);
      assert.equal(await opened.stagedCount(), 0);

      await store.put({ roundId: 'r2', name: 'checkpoint' }, Uint8Array.of(1, 2, 3));
      await store.put({ roundId: 'r2', name: 'checkpoint' }, Uint8Array.of(4, 5));
      assert.deepEqual(await store.get({ roundId: 'r2', name: 'checkpoint' }), Uint8Array.of(4, 5));
      await store.put({ roundId: 'r2', name: 'empty' }, new Uint8Array(0));
      assert.equal(await store.size({ roundId: 'r2', name: 'empty' }), 0);
      assert.equal(await store.delete({ roundId: 'r2', name: 'empty' }), true);
      await store.put({ roundId: 'r2', name: 'u2' }, Uint8Array.of(9));
      await store.put({ roundId: 'other', name: 'u2' }, Uint8Array.of(7));
      const pending = await store.stage({ roundId: 'r2', name: 'u3' });
      await pending.append(Uint8Array.of(1));
      assert.equal(await store.delete({ roundId: 'r2', name: 'u2' }), true);
      assert.equal(await store.delete({ roundId: 'r2', name: 'u2' }), false);
      assert.equal(await store.deleteRound('r2'), 2, 'the checkpoint and the staged object');
      await assert.rejects(pending.commit(), 'a staged object of a deleted round cannot be committed');
      await pending.abort();
      assert.deepEqual(await store.rounds(), ['other'], 'another round is untouched');
      assert.deepEqual(await store.get({ roundId: 'other', name: 'u2' }), Uint8Array.of(7));
      assert.equal(await opened.stagedCount(), 0);
      assert.equal(await store.deleteRound('never'), 0);
    });

    it('deleteRound keeps the committed objects it is told to keep (a released round\'s result), and only those', async () => {
      await store.put({ roundId: 'r5', name: 'result-1' }, Uint8Array.of(1, 2));
      await store.put({ roundId: 'r5', name: 'result-2' }, Uint8Array.of(3));
      await store.put({ roundId: 'r5', name: 'ckpt-r0-n4' }, Uint8Array.of(4));
      const pending = await store.stage({ roundId: 'r5', name: 'result-3' });
      await pending.append(Uint8Array.of(5));
      assert.equal(await store.deleteRound('r5', ['result-1']), 3, 'the other result, the checkpoint and the staged object');
      await assert.rejects(pending.commit(), 'a staged object of a deleted round cannot be committed');
      await pending.abort();
      assert.deepEqual(await store.get({ roundId: 'r5', name: 'result-1' }), Uint8Array.of(1, 2));
      assert.equal(await store.get({ roundId: 'r5', name: 'result-2' }), undefined);
      assert.equal(await store.deleteRound('r5', ['result-1']), 0, 'idempotent');
      await assert.rejects(store.deleteRound('r5', ['../x']), RangeError);
      assert.equal(await store.deleteRound('r5'), 1, 'without keep, the round goes whole');
      assert.deepEqual(await store.rounds(), [], 'nothing of r5 is left');
      assert.equal(await opened.stagedCount(), 0);
    });

    it('refuses keys that could leave the store directory', async () => {
      for (const key of [
        { roundId: '..', name: 'x' },
        { roundId: 'r', name: '../../etc/passwd' },
        { roundId: 'r', name: '.hidden' },
        { roundId: 'a/b', name: 'x' },
        { roundId: 'r', name: '' },
        { roundId: 'r', name: 'x'.repeat(129) },
      ]) {
        await assert.rejects(store.stage(key), RangeError, JSON.stringify(key));
        await assert.rejects(store.get(key), RangeError, JSON.stringify(key));
        await assert.rejects(store.put(key, Uint8Array.of(1)), RangeError, JSON.stringify(key));
        await assert.rejects(store.readInto(key, 0, new Uint8Array(1)), RangeError, JSON.stringify(key));
        await assert.rejects(store.delete(key), RangeError, JSON.stringify(key));
      }
      await assert.rejects(store.deleteRound('../r'), RangeError);
      assert.deepEqual(await store.rounds(), []);
    });

    it('a 40 MiB object streams through in bounded memory and reads back exactly, across part boundaries', async () => {
      // Appended in 64 KiB chunks from one reused buffer (append may keep no
      // reference to it), each stamped with its index, so the expected bytes
      // at any offset can be recomputed without holding the object.
      const CHUNK = 64 * 1024;
      const TOTAL = 40 * MiB;
      const pattern = new Uint8Array(randomBytes(CHUNK));
      const chunkAt = (index: number, into = new Uint8Array(CHUNK)): Uint8Array => {
        into.set(pattern);
        new DataView(into.buffer, into.byteOffset).setUint32(0, index);
        return into;
      };
      const expected = (offset: number, length: number): Uint8Array => {
        const out = new Uint8Array(length);
        for (let at = 0; at < length; ) {
          const index = Math.floor((offset + at) / CHUNK);
          const within = (offset + at) % CHUNK;
          const n = Math.min(CHUNK - within, length - at);
          out.set(chunkAt(index).subarray(within, within + n), at);
          at += n;
        }
        return out;
      };

      let baseline = liveArrayBuffers();
      let peak = 0;
      const chunk = new Uint8Array(CHUNK);
      const staged = await store.stage({ roundId: 'r4', name: 'large' });
      for (let index = 0; index < TOTAL / CHUNK; index++) {
        await staged.append(chunkAt(index, chunk));
        if (index % 32 === 0) peak = Math.max(peak, liveArrayBuffers() - baseline);
      }
      assert.equal(await store.size({ roundId: 'r4', name: 'large' }), undefined, 'invisible while staged');
      await staged.commit();
      // Holding the object would take 40 MiB; a store may hold a few parts' worth (S3: two 8 MiB part buffers).
      assert.ok(peak < 24 * MiB, `staging held ${(peak / MiB).toFixed(1)} MiB of buffers`);
      assert.equal(await store.size({ roundId: 'r4', name: 'large' }), TOTAL);

      baseline = liveArrayBuffers();
      peak = 0;
      let offset = 0;
      for await (const block of store.readRecords({ roundId: 'r4', name: 'large' }, RECORD, 0, Math.floor(TOTAL / RECORD))) {
        assert.ok(Buffer.from(block).equals(expected(offset, block.byteLength)), `block at byte ${offset}`);
        offset += block.byteLength;
        if (offset % (8 * MiB) < block.byteLength) peak = Math.max(peak, liveArrayBuffers() - baseline);
      }
      assert.equal(offset, Math.floor(TOTAL / RECORD) * RECORD);
      assert.ok(peak < 24 * MiB, `reading held ${(peak / MiB).toFixed(1)} MiB of buffers`);
      // Around every 8 MiB and 5 MiB boundary (where an S3 store's parts meet).
      for (const boundary of [5 * MiB, 8 * MiB, 16 * MiB, 24 * MiB, 32 * MiB]) {
        const into = new Uint8Array(2 * RECORD);
        await store.readInto({ roundId: 'r4', name: 'large' }, boundary - RECORD, into);
        assert.ok(Buffer.from(into).equals(expected(boundary - RECORD, 2 * RECORD)), `bytes around ${boundary}`);
      }

      // put of more than one part, then a small put over it.
      const big = new Uint8Array(randomBytes(9 * MiB));
      await store.put({ roundId: 'r4', name: 'checkpoint' }, big);
      assert.ok(Buffer.from((await store.get({ roundId: 'r4', name: 'checkpoint' }))!).equals(big));
      await store.put({ roundId: 'r4', name: 'checkpoint' }, Uint8Array.of(1));
      assert.deepEqual(await store.get({ roundId: 'r4', name: 'checkpoint' }), Uint8Array.of(1));
      assert.equal(await opened.stagedCount(), 0);
      assert.equal(await store.deleteRound('r4'), 2);
    });

    it('an upload killed mid-write (SIGKILL) leaves no visible object; its staged state is collected as an orphan once old', async () => {
      const index = fileURLToPath(new URL('../index.js', import.meta.url));
      const script = `
        const { openCiphertextStore } = await import(${JSON.stringify(index)});
        const store = await openCiphertextStore(${JSON.stringify(opened.location)});
        const staged = await store.stage({ roundId: 'r3', name: 'killed' });
        await staged.append(new Uint8Array(${harness.crashAppendBytes}));
        process.stdout.write('appended\\n');
        setInterval(() => {}, 1000);
      `;
      // env: the harness may have put credentials in this process's environment (under jest, a copy
      // that a child spawned without `env` would not see).
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('appended') && resolve());
        child.once('exit', (code) => reject(new Error(`child exited ${code} before appending`)));
      });
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      assert.equal(await store.get({ roundId: 'r3', name: 'killed' }), undefined);
      assert.deepEqual(await store.rounds(), []);
      assert.equal(await opened.stagedCount(), 1, 'the killed upload left staged state');
      assert.equal(await store.collectOrphans(Date.now(), 60_000), 0, 'too young to be an orphan: it may still be uploading');
      assert.equal(await opened.stagedCount(), 1);
      assert.equal(await store.collectOrphans(Date.now() + 120_000, 60_000), 1);
      assert.equal(await opened.stagedCount(), 0);
      assert.equal(await store.collectOrphans(Date.now() + 120_000, 60_000), 0);
    });
  });
}
