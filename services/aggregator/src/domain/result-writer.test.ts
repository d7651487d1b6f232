/**
 * ResultWriter on a real filesystem ciphertext store: the released sum is
 * invisible until committed, then exactly the appended bytes under a fresh
 * name per attempt, with the SHA-256 and length Redis records; an abort
 * leaves nothing.
 */
import { afterAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsCiphertextStore } from '@secagg/ciphertext-store';
import { ResultWriter } from './result-writer.js';

describe('ResultWriter', () => {
  const root = mkdtempSync(join(tmpdir(), 'result-writer-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('commits the appended runs as one object and reports its name, SHA-256 and length', async () => {
    const store = await FsCiphertextStore.open(root);
    const runs = [new Float64Array([1.5, -2.25]), new Float64Array([1e6])].map((r) => new Uint8Array(r.buffer));
    const writer = await ResultWriter.open(store, 'r1');
    for (const run of runs) await writer.append(run);
    assert.equal(writer.values, 3);
    assert.deepEqual(await store.rounds(), [], 'invisible until committed');
    const object = await writer.commit();
    const bytes = Buffer.concat(runs);
    assert.match(object.name, /^result-[0-9a-f]{16}$/);
    assert.deepEqual(object, { name: object.name, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: 24 });
    assert.deepEqual(Buffer.from((await store.get({ roundId: 'r1', name: object.name }))!), bytes);

    const again = await ResultWriter.open(store, 'r1');
    await again.append(runs[0]!);
    const second = await again.commit();
    assert.notEqual(second.name, object.name, 'each attempt writes its own object: a recorded one is never replaced');
    assert.equal(await store.size({ roundId: 'r1', name: object.name }), 24);
  });

  it('refuses a run that is not whole float64 values; an aborted result leaves nothing', async () => {
    const store = await FsCiphertextStore.open(root);
    const writer = await ResultWriter.open(store, 'r2');
    await assert.rejects(writer.append(new Uint8Array(12)), /12 bytes is not whole float64 values/);
    await writer.append(new Uint8Array(8));
    await writer.abort();
    assert.equal(await store.deleteRound('r2'), 0, 'nothing of r2 was left');
  });
});
