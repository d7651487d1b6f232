/**
 * TLS for every listener and channel. Plaintext is only possible through an
 * explicit development flag, and is logged loudly every time it is used.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

export interface TlsFiles {
  /** PEM certificate chain of this service. */
  tlsCertFile?: string | undefined;
  /** PEM private key of this service. */
  tlsKeyFile?: string | undefined;
  /** PEM CA bundle: peers' certificates must chain to it (mutual TLS when set on a server). */
  tlsCaFile?: string | undefined;
  /** DEVELOPMENT ONLY: plaintext when no certificate is configured. */
  allowInsecure: boolean;
}

const read = (path: string | undefined) => (path ? readFileSync(path) : null);

export function serverCredentials(tls: TlsFiles, logger: Logger): grpc.ServerCredentials {
  if (tls.tlsCertFile && tls.tlsKeyFile) {
    const ca = read(tls.tlsCaFile);
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: read(tls.tlsCertFile)!, private_key: read(tls.tlsKeyFile)! }], ca !== null);
  }
  if (!tls.allowInsecure) {
    throw new Error('TLS is required: set the TLS certificate and key files (or the development-only allow-insecure flag)');
  }
  logger.warn('INSECURE: serving plaintext gRPC (development flag allowInsecure is set); never use this in production');
  return grpc.ServerCredentials.createInsecure();
}

export function channelCredentials(tls: TlsFiles, logger: Logger): grpc.ChannelCredentials {
  if (tls.tlsCaFile) {
    return grpc.credentials.createSsl(read(tls.tlsCaFile), read(tls.tlsKeyFile), read(tls.tlsCertFile));
  }
  if (!tls.allowInsecure) {
    throw new Error('TLS is required: set the CA file that signs the peer (or the development-only allow-insecure flag)');
  }
  logger.warn('INSECURE: plaintext gRPC channel (development flag allowInsecure is set)');
  return grpc.credentials.createInsecure();
}
