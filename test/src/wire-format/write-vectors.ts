/**
 * Writes docs/wire-format-vectors.json from the code (after a deliberate
 * format change; the wire-format test fails until the file matches):
 *   npm run -s build && node test/dist/wire-format/write-vectors.js
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@secagg/local-cluster';
import { computeWireFormatVectors } from './vectors.js';

export const VECTORS_FILE = join(REPO_ROOT, 'docs', 'wire-format-vectors.json');

const vectors = await computeWireFormatVectors();
writeFileSync(VECTORS_FILE, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${VECTORS_FILE}`);
