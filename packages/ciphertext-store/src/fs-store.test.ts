import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsCiphertextStore } from './fs-store.js';
import { describeCiphertextStoreContract } from './testing/ciphertext-store-contract.js';

describeCiphertextStoreContract('filesystem store', {
  async open() {
    const root = mkdtempSync(join(tmpdir(), 'ct-store-'));
    return {
      store: await FsCiphertextStore.open(root),
      location: root,
      stagedCount: async () => readdirSync(join(root, '.staging')).length,
      close: async () => rmSync(root, { recursive: true, force: true }),
    };
  },
  crashAppendBytes: 4096,
});
