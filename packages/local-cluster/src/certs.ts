/**
 * Development certificates: a CA and one certificate per service identity,
 * made with the system's openssl (no hand-rolled ASN.1). The common name is
 * the identity the keyholder authorizes: `client-gateway` may create round
 * keys, `aggregator` may release. Every certificate names localhost,
 * 127.0.0.1 and its compose host name, so the same files serve the local
 * cluster and docker compose.
 *
 * Not for production: a real deployment gets its certificates from its own
 * PKI; see docs/OPERATIONS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
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

/** Creates (or reuses) a CA and certificates for `identities` in `dir`. */
export function createDevCertificates(dir: string, identities: readonly string[] = SERVICE_IDENTITIES, days = 30): CertificateFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dir, 'ca.pem'))) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca-key.pem'], dir);
    openssl(['req', '-x509', '-new', '-key', 'ca-key.pem', '-sha256', '-days', String(days), '-subj', '/CN=secagg development CA', '-out', 'ca.pem'], dir);
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
      ['x509', '-req', '-in', `${identity}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', String(days), '-sha256', '-extfile', `${identity}.ext`, '-out', `${identity}.pem`],
      dir,
    );
  }
  return {
    caFile: join(dir, 'ca.pem'),
    cert: (identity) => ({ certFile: join(dir, `${identity}.pem`), keyFile: join(dir, `${identity}-key.pem`) }),
  };
}
