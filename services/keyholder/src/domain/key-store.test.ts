import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { KeyStore, RELEASE_RUN_BYTES } from './key-store.js';

const charge = (roundId: string) => ({ privacyGroup: 'g', roundId, noiseMultiplier: 1, samplingRate: 1, epsilon: 1, delta: 1e-5, chargedMs: 1 });

/** The runs joined, as float64 values. */
function joined(runs: Iterable<Uint8Array>): Float64Array {
  const list = [...runs];
  const out = new Uint8Array(list.reduce((n, run) => n + run.byteLength, 0));
  let at = 0;
  for (const run of list) {
    out.set(run, at);
    at += run.byteLength;
  }
  return new Float64Array(out.buffer);
}

describe('key store: release values', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyholder-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores a large release in bounded runs and reads it back whole, in order, across a reopen', () => {
    const values = Float64Array.from({ length: 200_003 }, (_, i) => i * 0.25 - 7);
    // A view at an offset, as the handler passes it (no copy).
    const backing = new Float64Array(values.length + 2);
    backing.set(values, 1);
    const bytes = new Uint8Array(backing.buffer, 8, values.byteLength);
    let store = new KeyStore(dir);
    store.recordRelease({ roundId: 'big', contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), sum: bytes, releasedMs: 5 }, charge('big'));
    store.close();

    store = new KeyStore(dir);
    assert.deepEqual(store.getRelease('big'), { roundId: 'big', contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), releasedMs: 5 });
    const runs = [...store.releaseValues('big')];
    assert.equal(runs.length, Math.ceil(values.byteLength / RELEASE_RUN_BYTES));
    assert.ok(runs.every((run) => run.byteLength <= RELEASE_RUN_BYTES && run.byteOffset % 8 === 0));
    assert.deepEqual(joined(runs), values);
    assert.deepEqual([...store.releaseValues('unknown')], []);
    store.close();
  });

  it('a refused charge stores no values either', () => {
    const store = new KeyStore(dir);
    assert.throws(() =>
      store.recordRelease({ roundId: 'no', contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), sum: new Uint8Array(8 * 100_000), releasedMs: 1 }, charge('no'), () => {
        throw new Error('over budget');
      }),
    );
    assert.equal(store.getRelease('no'), undefined);
    assert.deepEqual([...store.releaseValues('no')], []);
    store.close();
  });

  it('reads a release stored whole in releases.sum (before runs existed)', () => {
    new KeyStore(dir).close(); // the schema
    const db = new DatabaseSync(join(dir, 'keyholder.sqlite'));
    const legacy = Float64Array.from([1.5, -2.25, 3]);
    db.prepare('INSERT INTO releases (round_id, contributors_sha256, header, sum, released_ms) VALUES (?, ?, ?, ?, ?)').run(
      'old',
      new Uint8Array(32),
      new Uint8Array([2]),
      new Uint8Array(legacy.buffer),
      9,
    );
    db.close();
    const store = new KeyStore(dir);
    assert.equal(store.getRelease('old')!.releasedMs, 9);
    assert.deepEqual(joined(store.releaseValues('old')), legacy);
    store.close();
  });
});
