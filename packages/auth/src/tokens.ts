/**
 * Bearer tokens for clients, coordinators and operators: JWTs signed with
 * Ed25519 (EdDSA, RFC 8037) through `jose`. The gateway holds only the public
 * key; whoever holds the private key can mint tokens (`secagg token mint`).
 *
 * Claims: `sub` = principal id (the client id updates are attributed to),
 * `role`, `exp`, `iat`, optional `round` (the token is only valid for that
 * round).
 *
 * Lifetime (issue 10: a token with `exp` in 2200 and one issued in the future
 * were accepted): a token lives at most `maxLifetimeSeconds` (exp − iat; for a
 * token without `iat`, exp − now), and `iat` and `nbf` may lie in the future
 * by at most the clock tolerance. A stolen token is then worth a day, not
 * forever; there is no revocation list, so the bound is the revocation.
 */
import { SignJWT, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, jwtVerify, errors } from 'jose';
import { refuse } from '@secagg/core';

export const ROLES = ['client', 'coordinator', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_ISSUER = 'secagg';
export const TOKEN_AUDIENCE = 'secagg-gateway';
const ALGORITHM = 'EdDSA';

/** Who is calling, as proven by a verified token. */
export interface Principal {
  readonly subject: string;
  readonly role: Role;
  /** When set, the token is only valid for this round. */
  readonly round: string | undefined;
}

const SUBJECT = /^[A-Za-z0-9_.@-]{1,128}$/;

/** Longest token lifetime the gateway accepts and `secagg token mint` issues by default (24 h). */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3_600;
/** Clock skew tolerated between the minting machine and the gateway (exp, nbf, iat). */
export const DEFAULT_TOKEN_CLOCK_TOLERANCE_SECONDS = 30;

export interface MintOptions {
  subject: string;
  role: Role;
  ttlSeconds: number;
  round?: string;
  /** Longest ttl allowed: the gateway's maximum lifetime (default {@link DEFAULT_MAX_TOKEN_LIFETIME_SECONDS}). */
  maxTtlSeconds?: number;
}

/** Signs a token with a PKCS#8 PEM Ed25519 private key. */
export async function mintToken(privateKeyPem: string, options: MintOptions): Promise<string> {
  if (!SUBJECT.test(options.subject)) throw refuse('bad_token_request', 'subject must be 1-128 characters of [A-Za-z0-9_.@-]');
  if (!ROLES.includes(options.role)) throw refuse('bad_token_request', `role must be one of ${ROLES.join(', ')}`);
  if (!(options.ttlSeconds > 0)) throw refuse('bad_token_request', 'ttl must be positive');
  const maxTtl = options.maxTtlSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (options.ttlSeconds > maxTtl) {
    throw refuse('bad_token_request', `ttl ${options.ttlSeconds} s exceeds the maximum token lifetime ${maxTtl} s (the gateway refuses longer-lived tokens)`);
  }
  const key = await importPKCS8(privateKeyPem, ALGORITHM);
  const jwt = new SignJWT({ role: options.role, ...(options.round ? { round: options.round } : {}) })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(options.subject)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + Math.ceil(options.ttlSeconds));
  return jwt.sign(key);
}

/** A new Ed25519 signing key pair as PEM (private PKCS#8, public SPKI). */
export async function generateSigningKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const { privateKey, publicKey } = await generateKeyPair(ALGORITHM, { crv: 'Ed25519', extractable: true });
  return { privateKeyPem: await exportPKCS8(privateKey), publicKeyPem: await exportSPKI(publicKey) };
}

export interface VerifierOptions {
  /** Clock skew tolerated on exp, nbf and iat, seconds. */
  clockToleranceSeconds?: number;
  /** Longest accepted lifetime: exp − iat (exp − now without iat), seconds. */
  maxLifetimeSeconds?: number;
  /** Milliseconds since the epoch; injected so tests control time. */
  clock?: () => number;
}

/** Verifies tokens against one public key. */
export class TokenVerifier {
  private constructor(
    private readonly key: Awaited<ReturnType<typeof importSPKI>>,
    private readonly clockToleranceSeconds: number,
    private readonly maxLifetimeSeconds: number,
    private readonly clock: () => number,
  ) {}

  static async fromPem(publicKeyPem: string, options: VerifierOptions = {}): Promise<TokenVerifier> {
    return new TokenVerifier(
      await importSPKI(publicKeyPem, ALGORITHM),
      options.clockToleranceSeconds ?? DEFAULT_TOKEN_CLOCK_TOLERANCE_SECONDS,
      options.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
      options.clock ?? Date.now,
    );
  }

  /** Verifies `token` and returns its principal; UNAUTHENTICATED with the reason otherwise. */
  async verify(token: string): Promise<Principal> {
    let payload: Record<string, unknown>;
    const nowMs = this.clock();
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        clockTolerance: this.clockToleranceSeconds,
        currentDate: new Date(nowMs),
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw refuse('invalid_token', `invalid token: ${reasonOf(error)}`, { cause: error });
    }
    this.checkLifetime(payload, nowMs / 1000);
    const { sub, role, round } = payload;
    if (typeof sub !== 'string' || !SUBJECT.test(sub)) throw refuse('invalid_token', 'invalid token: bad subject');
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
      throw refuse('invalid_token', 'invalid token: missing or unknown role');
    }
    if (round !== undefined && typeof round !== 'string') throw refuse('invalid_token', 'invalid token: bad round claim');
    return { subject: sub, role: role as Role, round };
  }

  /** exp and nbf are checked by jose (with the tolerance); this bounds how long a token lives and when it was issued. */
  private checkLifetime(payload: Record<string, unknown>, now: number): void {
    const { exp, iat } = payload as { exp: number; iat?: unknown };
    const tooLong = (why: string) => refuse('token_lifetime', `invalid token: ${why}`);
    if (iat !== undefined) {
      // jose checked that iat is a number.
      const issued = iat as number;
      if (issued > now + this.clockToleranceSeconds) {
        throw tooLong(`issued in the future (iat ${Math.round(issued - now)} s ahead, beyond the ${this.clockToleranceSeconds} s clock tolerance)`);
      }
      if (exp - issued > this.maxLifetimeSeconds) {
        throw tooLong(`lifetime ${Math.round(exp - issued)} s (exp - iat) exceeds the maximum ${this.maxLifetimeSeconds} s`);
      }
    } else if (exp - now > this.maxLifetimeSeconds + this.clockToleranceSeconds) {
      throw tooLong(`no iat and expires in ${Math.round(exp - now)} s, beyond the maximum lifetime ${this.maxLifetimeSeconds} s`);
    }
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed';
  return 'rejected';
}

/** Extracts the bearer token from `authorization` metadata. */
export function bearerToken(authorization: unknown): string {
  if (typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) {
    throw refuse('missing_token', 'missing bearer token (metadata "authorization: Bearer <token>")');
  }
  return authorization.slice('Bearer '.length).trim();
}
