/**
 * Token lifetime and clock skew (issue 10: `exp` in 2200 and `iat` in the
 * future were accepted), with an injected clock; boundaries exactly at the
 * limits. The whole matrix against a real gateway is
 * test/src/authorization.int.test.ts ("Bad tokens").
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { SignJWT, importPKCS8 } from 'jose';
import { Code, SecaggError } from '@secagg/core';
import {
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  generateSigningKeyPair,
  mintToken,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TokenVerifier,
} from './tokens.js';

const NOW = 1_796_000_000; // seconds; a fixed "now" for the verifier's clock
const DAY = 86_400;

describe('token lifetime and clock skew', () => {
  let privateKeyPem: string;
  let publicKeyPem: string;
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  let verifier: TokenVerifier;
  beforeAll(async () => {
    ({ privateKeyPem, publicKeyPem } = await generateSigningKeyPair());
    key = await importPKCS8(privateKeyPem, 'EdDSA');
    verifier = await TokenVerifier.fromPem(publicKeyPem, { clock: () => NOW * 1000, clockToleranceSeconds: 30, maxLifetimeSeconds: DAY });
  });
  /** A token with exactly these time claims (undefined: absent). */
  const sign = (times: { iat?: number; exp: number; nbf?: number }) => {
    const jwt = new SignJWT({ role: 'client', ...times }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('alice').setIssuer(TOKEN_ISSUER).setAudience(TOKEN_AUDIENCE);
    return jwt.sign(key);
  };
  const refused = async (token: Promise<string>, reason: RegExp) =>
    assert.rejects(verifier.verify(await token), (e: SecaggError) => {
      assert.equal(e.code, Code.Unauthenticated);
      assert.match(e.message, reason);
      return true;
    });

  it('accepts a token of exactly the maximum lifetime, and refuses one second more', async () => {
    assert.equal((await verifier.verify(await sign({ iat: NOW, exp: NOW + DAY }))).subject, 'alice');
    await refused(sign({ iat: NOW, exp: NOW + DAY + 1 }), /^invalid token: lifetime 86401 s \(exp - iat\) exceeds the maximum 86400 s$/);
  });

  it('refuses exp in 2200', async () => {
    const exp2200 = Date.UTC(2200, 0, 1) / 1000;
    await refused(sign({ iat: NOW, exp: exp2200 }), /lifetime \d+ s \(exp - iat\) exceeds the maximum 86400 s/);
    // An old iat does not help: the lifetime is still exp - iat.
    await refused(sign({ iat: NOW - 10, exp: exp2200 }), /exceeds the maximum/);
  });

  it('bounds a token without iat by exp - now', async () => {
    assert.equal((await verifier.verify(await sign({ exp: NOW + DAY + 30 }))).role, 'client');
    await refused(sign({ exp: NOW + 2 * DAY }), /^invalid token: no iat and expires in 172800 s, beyond the maximum lifetime 86400 s$/);
  });

  it('refuses iat in the future beyond the clock tolerance, and accepts it within', async () => {
    assert.equal((await verifier.verify(await sign({ iat: NOW + 30, exp: NOW + 3_600 }))).subject, 'alice');
    await refused(sign({ iat: NOW + 3_600, exp: NOW + 7_200 }), /^invalid token: issued in the future \(iat 3600 s ahead, beyond the 30 s clock tolerance\)$/);
  });

  it('refuses nbf beyond the clock tolerance (jose), and a non-numeric iat', async () => {
    await refused(sign({ iat: NOW, nbf: NOW + 3_600, exp: NOW + 7_200 }), /^invalid token: claim nbf/);
    const jwt = new SignJWT({ role: 'client', iat: 'yesterday', exp: NOW + 60 } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('alice')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE);
    await refused(jwt.sign(key), /^invalid token: claim iat/);
  });

  it('mint refuses a ttl above the maximum lifetime, so the CLI cannot issue what the gateway refuses', async () => {
    await assert.rejects(mintToken(privateKeyPem, { subject: 'op', role: 'operator', ttlSeconds: DEFAULT_MAX_TOKEN_LIFETIME_SECONDS + 1 }), (e: SecaggError) => {
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /^ttl 86401 s exceeds the maximum token lifetime 86400 s/);
      return true;
    });
    const token = await mintToken(privateKeyPem, { subject: 'op', role: 'operator', ttlSeconds: DEFAULT_MAX_TOKEN_LIFETIME_SECONDS });
    const real = await TokenVerifier.fromPem(publicKeyPem);
    assert.equal((await real.verify(token)).role, 'operator');
  });
});
