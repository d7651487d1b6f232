#!/usr/bin/env node
/**
 * `npm run certs [-- --out DIR --ca-key-dir DIR --keyholder-key-dir DIR --days N --keyholders N]`:
 * development CA and per-service certificates (see certs.ts), and the
 * keyholder's round-signing key with the verification key clients pin, next
 * to the certificate directory (kept if it exists: clients may pin it
 * already; rotating it is docs/OPERATIONS.md's procedure). Services mount
 * files of `--out` only; the CA private key goes to `--ca-key-dir` and is
 * mounted by nobody. `--keyholders N` (threshold keyholders, docker-compose.threshold.yml)
 * also makes keyholder-2 … keyholder-N: a certificate and a signing key each.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { CA_KEY_FILE, createDevCertificates, DEV_CA_PRIVATE_DIR, DEV_TLS_DIR, SERVICE_IDENTITIES } from './certs.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: DEV_TLS_DIR },
    'ca-key-dir': { type: 'string', default: DEV_CA_PRIVATE_DIR },
    'keyholder-key-dir': { type: 'string' },
    days: { type: 'string', default: '30' },
    keyholders: { type: 'string', default: '1' },
  },
});
const committee = Array.from({ length: Math.max(0, Number(values.keyholders) - 1) }, (_, i) => `keyholder-${i + 2}`);
const dir = resolve(values.out!);
const caKeyDir = resolve(values['ca-key-dir']!);
const identities = [...SERVICE_IDENTITIES, ...committee];
const files = createDevCertificates(dir, identities, Number(values.days), caKeyDir);
console.log(`development CA: ${files.caFile} (private key ${resolve(caKeyDir, CA_KEY_FILE)}: keep it off every service)`);
for (const identity of identities) {
  const { certFile, keyFile } = files.cert(identity);
  console.log(`${identity}: ${certFile} (key ${keyFile})`);
}
const keyDir = resolve(values['keyholder-key-dir'] ?? dirname(dir));
for (const name of ['keyholder', ...committee]) {
  const signingKeyFile = join(keyDir, `${name}-signing-key.pem`);
  const verificationKeyFile = join(keyDir, `${name}-verification-key.pem`);
  if (existsSync(signingKeyFile)) {
    console.log(`${name} signing key: ${signingKeyFile} exists, kept (clients pin ${verificationKeyFile})`);
  } else {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    mkdirSync(keyDir, { recursive: true });
    writeFileSync(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(verificationKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { flag: 'w' });
    console.log(`${name} signing key: ${signingKeyFile} (KEYHOLDER_SIGNING_KEY_FILE); clients pin ${verificationKeyFile}`);
  }
}
if (committee.length > 0) {
  // t-of-n committees: every keyholder pins every keyholder's verification key (KEYHOLDER_COMMITTEE_VERIFICATION_KEYS_FILE).
  const pems = ['keyholder', ...committee].map((name) => readFileSync(join(keyDir, `${name}-verification-key.pem`), 'utf8'));
  const committeeFile = join(keyDir, 'keyholder-committee-verification-keys.pem');
  writeFileSync(committeeFile, pems.join(''), { flag: 'w' });
  console.log(`keyholder committee verification keys (keyholder 1 first): ${committeeFile}`);
}
console.log('These are for development only; production certificates and keys come from your own PKI and key management.');
