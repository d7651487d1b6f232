#!/usr/bin/env node
/**
 * `npm run certs [-- --out DIR --ca-key-dir DIR --days N]`: development CA and
 * per-service certificates (see certs.ts). Services mount files of `--out`
 * only; the CA private key goes to `--ca-key-dir` and is mounted by nobody.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { CA_KEY_FILE, createDevCertificates, DEV_CA_PRIVATE_DIR, DEV_TLS_DIR, SERVICE_IDENTITIES } from './certs.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: DEV_TLS_DIR },
    'ca-key-dir': { type: 'string', default: DEV_CA_PRIVATE_DIR },
    days: { type: 'string', default: '30' },
  },
});
const dir = resolve(values.out!);
const caKeyDir = resolve(values['ca-key-dir']!);
const files = createDevCertificates(dir, SERVICE_IDENTITIES, Number(values.days), caKeyDir);
console.log(`development CA: ${files.caFile} (private key ${resolve(caKeyDir, CA_KEY_FILE)}: keep it off every service)`);
for (const identity of SERVICE_IDENTITIES) {
  const { certFile, keyFile } = files.cert(identity);
  console.log(`${identity}: ${certFile} (key ${keyFile})`);
}
console.log('These are for development only; production certificates come from your own PKI.');
