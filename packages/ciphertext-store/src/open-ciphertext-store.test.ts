import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FsCiphertextStore } from './fs-store.js';
import { openCiphertextStore } from './open-ciphertext-store.js';

describe('openCiphertextStore', () => {
  it('opens the filesystem store for a plain path and for a file: URL', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ct-open-'));
    try {
      const byPath = await openCiphertextStore(join(root, 'a'));
      assert.ok(byPath instanceof FsCiphertextStore);
      assert.equal(byPath.root, join(root, 'a'));
      const byUrl = await openCiphertextStore(pathToFileURL(join(root, 'b')).href);
      assert.ok(byUrl instanceof FsCiphertextStore);
      assert.equal(byUrl.root, join(root, 'b'));
      await byUrl.put({ roundId: 'r', name: 'x' }, Uint8Array.of(1));
      assert.deepEqual(await (await openCiphertextStore(`file://${join(root, 'b')}`)).get({ roundId: 'r', name: 'x' }), Uint8Array.of(1));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses an empty location, other schemes and file: URLs with a query', async () => {
    await assert.rejects(openCiphertextStore(''), /location is empty/);
    await assert.rejects(openCiphertextStore('gs://bucket/p'), /scheme gs: is not file: or s3:/);
    await assert.rejects(openCiphertextStore('file:///tmp/x?secret=1'), /has no query or fragment/);
    await assert.rejects(openCiphertextStore('file://otherhost/tmp/x'), /File URL host must be "localhost" or empty/);
  });
});
