#!/usr/bin/env node
/** `npm run certs [-- --out DIR]`: development CA and per-service certificates (see certs.ts). */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { createDevCertificates, SERVICE_IDENTITIES } from './certs.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'secrets/tls' }, days: { type: 'string', default: '30' } } });
const dir = resolve(values.out!);
const files = createDevCertificates(dir, SERVICE_IDENTITIES, Number(values.days));
console.log(`development CA: ${files.caFile}`);
for (const identity of SERVICE_IDENTITIES) {
  const { certFile, keyFile } = files.cert(identity);
  console.log(`${identity}: ${certFile} (key ${keyFile})`);
}
console.log('These are for development only; production certificates come from your own PKI.');
