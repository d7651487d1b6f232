/**
 * Development certificates: a CA and one certificate per service identity,
 * made with the system's openssl (no hand-rolled ASN.1). The common name is
 * the identity the keyholder authorizes: `client-gateway` may create round
 * keys, `aggregator` may release. Every certificate names localhost,
 * 127.0.0.1 and its compose host name, so the same files serve the local
 * cluster and docker compose.
 *
 * The CA private key is written apart from what services mount (`caKeyDir`):
 * whoever holds it can mint itself an `aggregator` certificate and call
 * ReleaseRound, so no service may see it (issue 10). `npm run certs` puts it
 * in `secrets/ca-private/`, next to (not inside) `secrets/tls/`.
 *
 * Not for production: a real deployment gets its certificates from its own
 * PKI; see docs/OPERATIONS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_IDENTITIES = ['keyholder', 'client-gateway', 'aggregator'] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

export interface CertificateFiles {
  caFile: string;
  cert(identity: ServiceIdentity | string): { certFile: string; keyFile: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Where `npm run certs` writes, relative to the project: what services mount, and the CA key kept apart. */
export const DEV_TLS_DIR = 'secrets/tls';
export const DEV_CA_PRIVATE_DIR = 'secrets/ca-private';
/** File name of the CA private key in `caKeyDir`. */
export const CA_KEY_FILE = 'ca-key.pem';

/**
 * Creates (or reuses) a CA and certificates for `identities` in `dir`; the CA
 * private key and serial go to `caKeyDir` (default: a `ca-private`
 * subdirectory, which keeps a temporary directory self-contained; mount
 * single files, never the whole directory).
 */
export function createDevCertificates(
  dir: string,
  identities: readonly string[] = SERVICE_IDENTITIES,
  days = 30,
  caKeyDir = join(dir, 'ca-private'),
): CertificateFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  mkdirSync(caKeyDir, { recursive: true, mode: 0o700 });
  const caKey = join(caKeyDir, CA_KEY_FILE);
  // A directory made before the CA key moved out keeps working: its key is moved apart once.
  const legacyCaKey = join(dir, CA_KEY_FILE);
  if (existsSync(legacyCaKey) && !existsSync(caKey)) renameSync(legacyCaKey, caKey);
  if (!existsSync(join(dir, 'ca.pem'))) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
    openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', String(days), '-subj', '/CN=secagg development CA', '-out', 'ca.pem'], dir);
  }
  for (const identity of identities) {
    if (existsSync(join(dir, `${identity}.pem`))) continue;
    writeFileSync(
      join(dir, `${identity}.ext`),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=DNS:${identity},DNS:localhost,IP:127.0.0.1,IP:::1`,
      ].join('\n'),
    );
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${identity}-key.pem`], dir);
    openssl(['req', '-new', '-key', `${identity}-key.pem`, '-subj', `/CN=${identity}`, '-out', `${identity}.csr`], dir);
    openssl(
      ['x509', '-req', '-in', `${identity}.csr`, '-CA', 'ca.pem', '-CAkey', caKey, '-CAserial', join(caKeyDir, 'ca.srl'), '-CAcreateserial', '-days', String(days), '-sha256', '-extfile', `${identity}.ext`, '-out', `${identity}.pem`],
      dir,
    );
  }
  return {
    caFile: join(dir, 'ca.pem'),
    cert: (identity) => ({ certFile: join(dir, `${identity}.pem`), keyFile: join(dir, `${identity}-key.pem`) }),
  };
}
