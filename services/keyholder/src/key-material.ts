/**
 * The keyholder's long-lived keys, read from its configuration at start: the
 * key-encryption key (with the previous ones of a rotation), the round
 * statement signing key, and a committee's verification keys.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from '@secagg/core';
import { RoundSigner, verificationKeyId } from '@secagg/protocol';
import type { KeyholderConfig } from './config.js';
import type { KeyStore } from './domain/key-store.js';
import { KeySealer } from './domain/sealing.js';

/** The KEK (config.kek or kekFile) and the previous KEKs of a rotation. */
export function loadKeySealer(config: KeyholderConfig): { sealer: KeySealer; previousKeks: number } {
  const previousKeks = (config.previousKekFiles ?? '').split(',').filter(Boolean).map((file) => readFileSync(file.trim(), 'utf8'));
  return { sealer: KeySealer.fromBase64(config.kek ?? readFileSync(config.kekFile!, 'utf8'), previousKeks), previousKeks: previousKeks.length };
}

/** Re-seals every stored secret key still sealed under a previous KEK; returns how many. */
export function resealUnderCurrentKek(store: KeyStore, sealer: KeySealer): number {
  return store.resealSecretKeys(
    (sealed) => sealer.needsReseal(sealed),
    (roundId, sealed) => {
      const secretKey = sealer.unseal(sealed, roundId);
      try {
        return sealer.seal(secretKey, roundId);
      } finally {
        secretKey.fill(0);
      }
    },
  );
}

/**
 * The round-statement signing key. Clients pin its public key, so it must be
 * long-lived: a development keyholder without one gets an ephemeral key whose
 * public half is logged (it changes at every start).
 */
export function loadRoundSigner(config: KeyholderConfig, logger: Logger): RoundSigner {
  const pem = config.signingKey ?? (config.signingKeyFile ? readFileSync(config.signingKeyFile, 'utf8') : undefined);
  if (pem !== undefined) {
    const loaded = RoundSigner.fromPem(pem);
    logger.info({ signingKeyId: loaded.keyId }, 'round signing key ready');
    return loaded;
  }
  const ephemeral = RoundSigner.generate();
  logger.warn(
    { signingKeyId: ephemeral.keyId, verificationKeyPem: ephemeral.verificationKeyPem },
    'DEVELOPMENT ONLY: no KEYHOLDER_SIGNING_KEY_FILE; rounds are signed with an ephemeral key that changes at every start',
  );
  return ephemeral;
}

/** t-of-n committees: every keyholder's verification key, committee order (config.ts requires them). */
export function loadCommitteeKeys(config: KeyholderConfig, signer: RoundSigner): KeyObject[] | undefined {
  const text = config.committeeVerificationKeys ?? (config.committeeVerificationKeysFile ? readFileSync(config.committeeVerificationKeysFile, 'utf8') : undefined);
  if (text === undefined) return undefined;
  const keys = (text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []).map((pem) => createPublicKey(pem));
  if (keys.length !== config.committeeSize || keys.some((k) => k.asymmetricKeyType !== 'ed25519')) {
    throw new Error(`invalid configuration: KEYHOLDER_COMMITTEE_VERIFICATION_KEYS must hold ${config.committeeSize} Ed25519 public keys, keyholder 1 first`);
  }
  if (verificationKeyId(keys[config.committeeIndex! - 1]!) !== signer.keyId) {
    throw new Error(`invalid configuration: verification key ${config.committeeIndex} of KEYHOLDER_COMMITTEE_VERIFICATION_KEYS is not this keyholder's own`);
  }
  return keys;
}
