/**
 * Who may call the keyholder: it authorizes by the verified client
 * certificate of the mutual-TLS connection. Only the gateway's identity may
 * create round keys; only an aggregator's identity may release.
 */
import { Code, SecaggError, type CallContext } from '@secagg/core';
import type { KeyholderConfig } from '../config.js';

export function requirePeer(ctx: CallContext, allowed: string, config: KeyholderConfig): void {
  const certificate = ctx.peerCertificate;
  if (!certificate) {
    // Plaintext development mode has no identities at all (logged loudly at start-up).
    if (config.allowInsecure && !config.tlsCaFile) return;
    throw new SecaggError(Code.Unauthenticated, 'a client certificate is required', { errorCode: 'no_peer_certificate' });
  }
  const name = certificate.subject?.CN;
  if (name !== allowed) {
    throw new SecaggError(Code.PermissionDenied, `certificate "${String(name)}" may not call ${ctx.method.split('/').pop()}; only "${allowed}" may`, {
      errorCode: 'peer_denied',
    });
  }
}
