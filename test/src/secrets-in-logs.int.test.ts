/**
 * Secrets hygiene: a full round through every service at log level debug,
 * with refused calls on the way (bad tokens, a malformed ciphertext, a
 * wrong role), and then every log line of every process is scanned. No
 * token, key-encryption key, TLS private key, round secret key or ciphertext
 * may appear in any encoding, and no line may carry a long run of encoded
 * binary at all.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Code, createClient, SecaggError, type ServiceClient } from '@secagg/core';
import { validateSecretKey, type PresetName } from '@secagg/ckks';
import { ClientService, CoordinatorService, RoundState } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { clipToNorm, SecaggClient } from '@secagg/sdk';
import { inMinutes, makeUpdate, waitForEnd } from './helpers.js';
import { bearer } from './fuzz/raw-client.js';
import { honestFrames, roundForUpload } from './fuzz/update-frames.js';
import { findSecrets, suspiciousRuns, type Secret } from './security/secret-scan.js';
import { newSigningKey, signJwt, claims } from './security/jwt-forge.js';

const LENGTH = 5_000;
const CLIENTS = 3;

/** The keyholder's sealed secret key of `roundId`, opened with the KEK (sealing.ts: version | IV | tag | body, AAD = round id). */
function unsealedSecretKey(dataDir: string, kekBase64: string, roundId: string): Buffer {
  const db = new DatabaseSync(join(dataDir, 'keyholder.sqlite'), { readOnly: true });
  try {
    const row = db.prepare('SELECT sealed_secret_key FROM round_keys WHERE round_id = ?').get(roundId) as { sealed_secret_key: Uint8Array | null } | undefined;
    assert.ok(row?.sealed_secret_key, `no sealed key for ${roundId}`);
    const sealed = Buffer.from(row.sealed_secret_key);
    // Sealed format v2 (services/keyholder/src/domain/sealing.ts): 0x02 | 8-byte KEK id | IV | tag | ciphertext.
    assert.equal(sealed[0], 2, 'sealed with a named KEK');
    const body = sealed.subarray(9);
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(kekBase64, 'base64'), body.subarray(0, 12));
    decipher.setAAD(Buffer.from(roundId));
    decipher.setAuthTag(body.subarray(12, 28));
    return Buffer.concat([decipher.update(body.subarray(28)), decipher.final()]);
  } finally {
    db.close();
  }
}

describe('no secret reaches a log line', () => {
  let cluster: LocalCluster;
  let clients: ServiceClient<typeof ClientService>;
  let coordinator: ServiceClient<typeof CoordinatorService>;
  const secrets: Secret[] = [];
  let logs: { source: string; text: string }[] = [];

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 2,
      env: {
        keyholder: { KEYHOLDER_LOG_LEVEL: 'debug' },
        'client-gateway': { GATEWAY_LOG_LEVEL: 'debug' },
        aggregator: { AGGREGATOR_LOG_LEVEL: 'debug' },
      },
    });
    clients = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    coordinator = createClient(CoordinatorService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });

    const ownerToken = await cluster.token('coordinator', 'log-owner');
    secrets.push({ name: 'coordinator token', strings: [ownerToken, ownerToken.split('.')[2]!] });
    const owner = bearer(ownerToken);
    const { round } = await coordinator.createRound(
      {
        config: {
          vectorLength: LENGTH,
          minClients: CLIENTS,
          maxClients: CLIENTS,
          deadlineUnixMs: inMinutes(10),
          clipNorm: 1,
          noiseMultiplier: 1,
          privacyGroup: 'log-scan',
        },
      },
      { metadata: owner },
    );
    const roundId = round!.roundId;

    // The round's secret key, as the keyholder holds it (sealed under the KEK): what must never be logged.
    const keyholderEnv = cluster.environmentOf('keyholder');
    const kek = keyholderEnv.KEYHOLDER_KEK!;
    const secretKey = unsealedSecretKey(keyholderEnv.KEYHOLDER_DATA_DIR!, kek, roundId);
    assert.deepEqual(validateSecretKey(round!.ckks!.preset as PresetName, secretKey), { ok: true }, 'the test holds the real secret key');
    secrets.push({ name: 'round secret key', bytes: secretKey.subarray(88) }, { name: 'KEK', strings: [kek], bytes: Buffer.from(kek, 'base64') });
    // The keyholder's round-signing key: PKCS#8 DER of Ed25519 is a fixed 16-byte prefix and the 32-byte private key.
    const signingKeyDer = Buffer.from(readFileSync(cluster.keyholderSigningKeyFile, 'utf8').replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    secrets.push({ name: 'keyholder signing key', bytes: signingKeyDer.subarray(16) });
    for (const identity of ['keyholder', 'client-gateway', 'aggregator']) {
      const pem = readFileSync(cluster.certificates!.cert(identity).keyFile, 'utf8');
      const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      secrets.push({ name: `TLS key of ${identity}`, strings: [body.slice(20, 60)], bytes: Buffer.from(body, 'base64') });
    }

    // The updates, encrypted here so that every ciphertext byte is known.
    const upload = await roundForUpload(await clients.getRound({ roundId }, { metadata: owner }));
    for (let i = 0; i < CLIENTS; i++) {
      const token = await cluster.token('client', `log-client-${i}`);
      const ciphertexts = upload.encrypt(clipToNorm(makeUpdate(LENGTH, 40 + i, 0.8), 1).values);
      secrets.push({ name: `client token ${i}`, strings: [token, token.split('.')[2]!] });
      ciphertexts.forEach((c, j) => secrets.push({ name: `ciphertext ${j} of client ${i}`, bytes: c.subarray(113) }));
      if (i === 0) {
        // Refused first: a malformed ciphertext (the refusal is logged at debug level, with its reason).
        const bad = ciphertexts.map((c) => Buffer.from(c));
        bad[1]!.fill(0xff, bad[1]!.length - 8);
        await assert.rejects(clients.submitUpdate(honestFrames(upload, 'bad', bad), { metadata: bearer(token) }), (e: SecaggError) => e.code === Code.InvalidArgument);
      }
      const receipt = await clients.submitUpdate(honestFrames(upload, `u-${i}`, ciphertexts), { metadata: bearer(token) });
      assert.equal(receipt.receipt!.clientId, `log-client-${i}`);
    }
    upload.dispose();

    // Refused tokens: expired, forged, wrong role.
    const forger = newSigningKey();
    const forged = signJwt(forger.privateKey, claims('forger', 'coordinator'));
    secrets.push({ name: 'forged token', strings: [forged, forged.split('.')[2]!] });
    await assert.rejects(coordinator.listRounds({}, { metadata: bearer(forged) }), (e: SecaggError) => e.code === Code.Unauthenticated);
    const clientToken = await cluster.token('client', 'log-wrong-role');
    secrets.push({ name: 'wrong-role token', strings: [clientToken] });
    await assert.rejects(coordinator.listRounds({}, { metadata: bearer(clientToken) }), (e: SecaggError) => e.code === Code.PermissionDenied);

    const sdk = new SecaggClient({ address: cluster.gatewayAddress, token: ownerToken, caFile: cluster.certificates!.caFile });
    const ended = await waitForEnd(sdk, roundId);
    sdk.close();
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    let values = 0;
    for await (const message of clients.getResult({ roundId }, { metadata: owner })) if (message.frame.case === 'values') values += message.frame.value.sumF64le.length / 8;
    assert.equal(values, LENGTH);

    logs = cluster.processNames().map((name) => ({ source: name, text: readFileSync(join(cluster.logDir, `${name}.log`), 'utf8') }));
  }, 300_000);

  afterAll(async () => {
    clients?.close();
    coordinator?.close();
    await cluster?.stop();
  }, 300_000);

  it('every service logged at debug level through the whole round', () => {
    for (const name of ['keyholder', 'client-gateway', 'aggregator-1', 'aggregator-2']) {
      const log = logs.find((l) => l.source === name);
      assert.ok(log, `no log of ${name}`);
      assert.match(log.text, /"logLevel":"debug"/, `${name} did not run at debug level`);
    }
    assert.match(logs.find((l) => l.source === 'keyholder')!.text, /round released/);
    const gateway = logs.find((l) => l.source === 'client-gateway')!.text;
    assert.match(gateway, /"level":20.*call refused/, 'the refusals were logged at debug level');
    assert.match(gateway, /update committed/);
  }, 300_000);

  it('the scanner finds each kind of secret it is looking for (control)', () => {
    const key = secrets.find((s) => s.name === 'round secret key')!.bytes!;
    // Whole-value leaks, at every base64 alignment and in every encoding ...
    for (const from of [0, 1, 2]) {
      const part = Buffer.from(key.subarray(from, from + 100));
      for (const leaked of [part.toString('base64'), part.toString('base64url'), part.toString('hex'), JSON.stringify(part), JSON.stringify(Uint8Array.from(part))]) {
        assert.ok(findSecrets('control', `{"msg":"oops","x":${JSON.stringify(leaked)}}`, secrets).length > 0, `missed ${leaked.slice(0, 40)}`);
      }
    }
    // ... and any part of it, by the shape of the run.
    const middle = Buffer.from(key.subarray(5_001, 5_049));
    for (const leaked of [middle.toString('base64'), middle.toString('hex'), JSON.stringify(middle), JSON.stringify(Uint8Array.from(middle))]) {
      assert.ok(suspiciousRuns('control', `{"msg":"oops","x":${leaked}}`).length > 0, `missed ${leaked.slice(0, 40)}`);
    }
  }, 300_000);

  it('no token, KEK, TLS key, secret key or ciphertext appears in any log, in any encoding', () => {
    assert.ok(secrets.length > 10);
    const findings = logs.flatMap(({ source, text }) => findSecrets(source, text, secrets));
    assert.deepEqual(findings, []);
  }, 300_000);

  it('no log line carries a long run of base64, hex or bytes at all', () => {
    const findings = logs.flatMap(({ source, text }) => suspiciousRuns(source, text));
    assert.deepEqual(findings, []);
  }, 300_000);
});
