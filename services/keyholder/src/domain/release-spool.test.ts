import { afterEach, beforeEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReleaseSpool, releaseSpoolDir, removeStaleSpools } from './release-spool.js';

function record(seed: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

describe('release spool', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'keyholder-spool-')), 'spool');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  it('reads back what was appended, in order, through one reused buffer, then deletes the file', async () => {
    const spool = ReleaseSpool.create(dir, 'round-1', 1_000);
    const records = [0, 1, 2, 3].map((seed) => record(seed, 1_000));
    for (const r of records) await spool.append(r);
    assert.equal(spool.count, 4);
    assert.equal(statSync(spool.path).size, 4_000);
    assert.equal(statSync(spool.path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);

    const buffers = new Set<Uint8Array>();
    let index = 0;
    for (const bytes of spool.read()) {
      assert.deepEqual(bytes, records[index++]);
      buffers.add(bytes);
    }
    assert.equal(index, 4);
    assert.equal(buffers.size, 1, 'one buffer for every record: memory is one record');

    spool.discard();
    assert.equal(existsSync(spool.path), false);
    spool.discard(); // idempotent
    assert.throws(() => spool.read().next(), /discarded/);
  });

  it('refuses a record of the wrong length and a round id that cannot name a file', async () => {
    using spool = ReleaseSpool.create(dir, 'round-2', 16);
    await assert.rejects(spool.append(new Uint8Array(15)), RangeError);
    assert.equal(spool.count, 0);
    assert.throws(() => ReleaseSpool.create(dir, '../escape', 16), RangeError);
    assert.throws(() => ReleaseSpool.create(dir, 'ok', 0), RangeError);
  });

  it('two releases of one round spool to different files', () => {
    using a = ReleaseSpool.create(dir, 'same', 8);
    using b = ReleaseSpool.create(dir, 'same', 8);
    assert.notEqual(a.path, b.path);
    assert.equal(readdirSync(dir).length, 2);
  });

  it('removeStaleSpools removes spool files only, and creates the directory', () => {
    assert.equal(removeStaleSpools(dir), 0);
    assert.ok(statSync(dir).isDirectory());
    writeFileSync(join(dir, 'r-1.0123456789abcdef.spool'), 'x');
    writeFileSync(join(dir, 'r_2.fedcba9876543210.spool'), 'x');
    writeFileSync(join(dir, 'operator-notes.txt'), 'keep');
    mkdirSync(join(dir, 'r-3.0123456789abcdef.spool.d'));
    assert.equal(removeStaleSpools(dir), 2);
    assert.deepEqual(readdirSync(dir).sort(), ['operator-notes.txt', 'r-3.0123456789abcdef.spool.d']);
  });

  it('the directory defaults to <dataDir>/spool and follows spoolDir', () => {
    assert.equal(releaseSpoolDir({ dataDir: '/var/lib/keyholder', spoolDir: undefined }), '/var/lib/keyholder/spool');
    assert.equal(releaseSpoolDir({ dataDir: '/var/lib/keyholder', spoolDir: '/scratch/spool' }), '/scratch/spool');
  });
});
