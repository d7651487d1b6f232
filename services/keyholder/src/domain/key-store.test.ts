import { afterEach, beforeEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { KeyStore, RELEASE_RUN_BYTES } from './key-store.js';

const charge = (roundId: string) => ({ privacyGroup: 'g', roundId, noiseMultiplier: 1, samplingRate: 1, epsilon: 1, delta: 1e-5, chargedMs: 1 });
const claim = (tag: number) => ({ contributorsSha256: new Uint8Array(32).fill(tag), sumSha256: new Uint8Array(32).fill(tag + 1) });

/** A round key whose config is just its deadline (ms, 8 bytes LE): what `expireKeys` is given to read. */
function insertKey(store: KeyStore, roundId: string, sealedSecretKey: Uint8Array = new Uint8Array(randomBytes(48)), deadlineMs = 1_000): Uint8Array {
  const config = new Uint8Array(8);
  new DataView(config.buffer).setBigUint64(0, BigInt(deadlineMs), true);
  assert.ok(store.insertRoundKey({ roundId, config, ckks: new Uint8Array(1), publicKey: new Uint8Array(1), sealedSecretKey, createdMs: 1 }));
  return sealedSecretKey;
}
const deadlineOf = (config: Uint8Array) => Number(new DataView(config.buffer, config.byteOffset, 8).getBigUint64(0, true));

/** A round key charged for claim(1), ready to record its outcome. */
function chargedKey(store: KeyStore, roundId: string): Uint8Array {
  const sealed = insertKey(store, roundId);
  assert.deepEqual(store.chargeRelease(roundId, claim(1), charge(roundId)), sealed);
  return sealed;
}

/** Whether `needle` occurs anywhere in the file (false for a missing file). */
function fileHolds(path: string, needle: Uint8Array): boolean {
  return existsSync(path) && readFileSync(path).indexOf(needle) >= 0;
}

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
    chargedKey(store, 'big');
    assert.equal(store.recordRelease({ roundId: 'big', contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), sum: bytes, releasedMs: 5 }), true);
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

  it('records no release for a key that was never charged', () => {
    const store = new KeyStore(dir);
    insertKey(store, 'no');
    assert.equal(store.recordRelease({ roundId: 'no', contributorsSha256: new Uint8Array(32), header: new Uint8Array([1]), sum: new Uint8Array(8 * 100), releasedMs: 1 }), false);
    assert.equal(store.getRelease('no'), undefined);
    assert.deepEqual([...store.releaseValues('no')], []);
    assert.equal(store.getRoundKey('no')!.status, 'ready');
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

describe('key store: charge first, then one outcome, then the key is gone', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyholder-charge-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a charge survives a crash (reopen) and resumes for the same claim only, without a second charge', () => {
    let store = new KeyStore(dir);
    const sealed = chargedKey(store, 'r');
    store.close(); // the process dies between the charge and the outcome
    store = new KeyStore(dir);
    assert.equal(store.getRoundKey('r')!.status, 'charged');
    assert.deepEqual(store.chargeRelease('r', claim(9), charge('r')), undefined, 'another sum or other contributors never get the key');
    assert.deepEqual(store.chargeRelease('r', claim(1), charge('r')), sealed, 'the same claim resumes');
    assert.equal(store.ledger('g').length, 1, 'one charge for the round, however often it resumes');
    store.close();
  });

  it('a charge refused by the budget check stores nothing and keeps the key ready', () => {
    const store = new KeyStore(dir);
    insertKey(store, 'r');
    assert.throws(
      () =>
        store.chargeRelease('r', claim(1), charge('r'), (ledger) => {
          assert.equal(ledger.length, 0);
          throw new Error('over budget');
        }),
      /over budget/,
    );
    assert.equal(store.getRoundKey('r')!.status, 'ready');
    assert.deepEqual(store.ledger('g'), []);
    store.close();
  });

  it('a refusal keeps the charge, records its fixed reason and destroys the key; nothing can charge or record again', () => {
    const store = new KeyStore(dir);
    chargedKey(store, 'r');
    assert.equal(store.recordRefusal('r', 'out_of_range'), true);
    const key = store.getRoundKey('r')!;
    assert.equal(key.status, 'refused');
    assert.equal(key.reason, 'out_of_range');
    assert.equal(store.ledger('g').length, 1, 'the decryption stays charged');
    assert.equal(store.chargeRelease('r', claim(1), charge('r')), undefined);
    assert.equal(store.recordRelease({ roundId: 'r', contributorsSha256: new Uint8Array(32), header: new Uint8Array(1), sum: new Uint8Array(8), releasedMs: 1 }), false);
    assert.equal(store.recordRefusal('r', 'out_of_range'), false);
    store.close();
  });

  it('a destroyed key is in neither the database file nor its WAL (it was, before destruction)', () => {
    const store = new KeyStore(dir);
    const db = join(dir, 'keyholder.sqlite');
    const sealed = chargedKey(store, 'r');
    assert.ok(fileHolds(db, sealed) || fileHolds(`${db}-wal`, sealed), 'the control: a stored key is readable from the files');
    store.recordRelease({ roundId: 'r', contributorsSha256: new Uint8Array(32), header: new Uint8Array(1), sum: new Uint8Array(8), releasedMs: 1 });
    assert.equal(fileHolds(db, sealed), false, 'keyholder.sqlite');
    assert.equal(fileHolds(`${db}-wal`, sealed), false, 'keyholder.sqlite-wal');
    store.close();
    assert.equal(fileHolds(db, sealed), false, 'keyholder.sqlite after close');
  });

  it('expires ready and charged keys past deadline + retention, destroying them; later keys stay', () => {
    const store = new KeyStore(dir);
    const db = join(dir, 'keyholder.sqlite');
    const old = insertKey(store, 'old', randomBytes(48), 1_000);
    chargedKey(store, 'stuck'); // deadline 1,000 too
    insertKey(store, 'late', randomBytes(48), 50_000);
    assert.deepEqual(store.expireKeys(10_001, 9_000, deadlineOf).sort(), ['old', 'stuck']);
    assert.equal(store.getRoundKey('old')!.status, 'expired');
    assert.equal(store.getRoundKey('stuck')!.status, 'expired');
    assert.equal(store.getRoundKey('late')!.status, 'ready');
    assert.equal(store.chargeRelease('old', claim(1), charge('old')), undefined);
    assert.equal(fileHolds(db, old) || fileHolds(`${db}-wal`, old), false);
    assert.deepEqual(store.expireKeys(10_001, 9_000, deadlineOf), []);
    store.close();
  });
});
