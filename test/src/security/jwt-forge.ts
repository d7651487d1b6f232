/**
 * Builds JWTs by hand (node:crypto, no jose), so tests can present exactly
 * the tokens an attacker could: expired, signed by another key, `alg: none`,
 * HS256 keyed with the public key, tampered payloads, odd claims.
 */
import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '@secagg/auth';

export interface SigningKey {
  privateKey: KeyObject;
  /** SPKI PEM, what the gateway is configured with. */
  publicKeyPem: string;
}

export function newSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS over `payload` with `header`, signed Ed25519 by `key`. */
export function signJwt(key: KeyObject, payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'EdDSA', typ: 'JWT' }): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

/** An HS256 JWS keyed with `secret` (the algorithm-confusion attack). */
export function signHs256(secret: string, payload: Record<string, unknown>): string {
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An unsigned `alg: none` token. */
export function unsignedJwt(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

/** Standard claims of a valid token; override any of them. */
export function claims(subject: string, role: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub: subject, role, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: now, exp: now + 3_600, ...extra };
}

/** `token` with its payload replaced and its signature kept. */
export function withPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(payload)}.${signature}`;
}
