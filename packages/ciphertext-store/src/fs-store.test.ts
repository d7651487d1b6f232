import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsCiphertextStore } from './fs-store.js';

const RECORD = 1_000;

async function collect(blocks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const block of blocks) out.push(block);
  return out;
}

describe('filesystem ciphertext store', () => {
  let root: string;
  let store: FsCiphertextStore;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'ct-store-'));
    store = await FsCiphertextStore.open(root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('a staged object is invisible until committed, then reads back exactly, in blocks of whole records', async () => {
    const records = Array.from({ length: 7 }, () => new Uint8Array(randomBytes(RECORD)));
    const staged = await store.stage({ roundId: 'r1', name: 'u1' });
    for (const record of records) await staged.append(record);
    assert.equal(staged.size, 7 * RECORD);
    assert.equal(await store.get({ roundId: 'r1', name: 'u1' }), undefined, 'invisible while staged');
    await staged.commit();
    assert.equal(await store.size({ roundId: 'r1', name: 'u1' }), 7 * RECORD);

    // Records 2..6 in blocks of at most 2,500 bytes: 2 records each, the last one alone.
    const blocks = await collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 2, 5, 2_500));
    assert.deepEqual(blocks.map((b) => b.byteLength), [2 * RECORD, 2 * RECORD, RECORD]);
    assert.deepEqual(Buffer.concat(blocks), Buffer.concat(records.slice(2, 7)));
    // A block smaller than one record still reads one record at a time.
    assert.equal((await collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 0, 3, 10))).length, 3);
    await assert.rejects(collect(store.readRecords({ roundId: 'r1', name: 'u1' }, RECORD, 5, 3)), /holds 7 records, not \[5, 8\)/);
    // readInto: straight into a caller's buffer, at any offset.
    const into = new Uint8Array(3 * RECORD + 10).subarray(10);
    await store.readInto({ roundId: 'r1', name: 'u1' }, 4 * RECORD, into);
    assert.deepEqual(Buffer.from(into), Buffer.concat(records.slice(4, 7)));
    await assert.rejects(store.readInto({ roundId: 'r1', name: 'u1' }, 5 * RECORD, into), /holds 7000 bytes, not \[5000, 8000\)/);
    await assert.rejects(collect(store.readRecords({ roundId: 'r1', name: 'missing' }, RECORD, 0, 1)), /ENOENT/);
    assert.deepEqual(await store.rounds(), ['r1']);
  });

  it('abort leaves nothing; put replaces a checkpoint atomically; delete and deleteRound remove objects', async () => {
    const staged = await store.stage({ roundId: 'r2', name: 'u1' });
    await staged.append(new Uint8Array(10));
    await staged.abort();
    await staged.abort(); // idempotent
    await assert.rejects(staged.append(new Uint8Array(1)), /is aborted/);
    assert.deepEqual(readdirSync(join(root, '.staging')), []);

    await store.put({ roundId: 'r2', name: 'checkpoint' }, Uint8Array.of(1, 2, 3));
    await store.put({ roundId: 'r2', name: 'checkpoint' }, Uint8Array.of(4, 5));
    assert.deepEqual(await store.get({ roundId: 'r2', name: 'checkpoint' }), Uint8Array.of(4, 5));
    await store.put({ roundId: 'r2', name: 'u2' }, Uint8Array.of(9));
    const pending = await store.stage({ roundId: 'r2', name: 'u3' });
    await pending.append(Uint8Array.of(1));
    assert.equal(await store.delete({ roundId: 'r2', name: 'u2' }), true);
    assert.equal(await store.delete({ roundId: 'r2', name: 'u2' }), false);
    assert.equal(await store.deleteRound('r2'), 2, 'the checkpoint and the staged object');
    assert.deepEqual(await store.rounds(), []);
    assert.deepEqual(readdirSync(join(root, '.staging')), []);
    assert.equal(await store.deleteRound('never'), 0);
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
    }
  });

  it('an upload killed mid-write (SIGKILL) leaves no visible object; its staged file is collected as an orphan once old', async () => {
    const module = fileURLToPath(new URL('./fs-store.js', import.meta.url));
    const script = `
      const { FsCiphertextStore } = await import(${JSON.stringify(module)});
      const store = await FsCiphertextStore.open(${JSON.stringify(root)});
      const staged = await store.stage({ roundId: 'r3', name: 'killed' });
      await staged.append(new Uint8Array(4096));
      process.stdout.write('appended\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('appended') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited ${code} before appending`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    assert.equal(await store.get({ roundId: 'r3', name: 'killed' }), undefined);
    assert.deepEqual(await store.rounds(), []);
    const [orphan] = readdirSync(join(root, '.staging'));
    assert.ok(orphan?.startsWith('r3~killed~'));
    assert.equal(await store.collectOrphans(Date.now(), 60_000), 0, 'too young to be an orphan: it may still be uploading');
    const old = new Date(Date.now() - 120_000);
    utimesSync(join(root, '.staging', orphan!), old, old);
    assert.equal(await store.collectOrphans(Date.now(), 60_000), 1);
    assert.deepEqual(readdirSync(join(root, '.staging')), []);
  });
});
