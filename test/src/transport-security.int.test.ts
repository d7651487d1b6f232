/**
 * TLS everywhere and identities between services: the keyholder only lets
 * the gateway's certificate create round keys and an aggregator's
 * certificate release; plaintext never reaches a TLS listener.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Code, createClient, SecaggError } from '@secagg/core';
import { ClientService, KeyholderService, ReleaseRoundRequestSchema, RoundConfigSchema } from '@secagg/proto';
import { LocalCluster } from '@secagg/local-cluster';
import { inMinutes } from './helpers.js';

describe('transport security between and into the services', () => {
  let cluster: LocalCluster;
  beforeAll(async () => {
    cluster = await LocalCluster.start({ aggregators: 1 });
    // One more identity that is neither gateway nor aggregator.
    cluster.issueCertificate('intruder');
  }, 120_000);
  afterAll(async () => cluster?.stop(), 120_000);

  // z = 2: 40.6 bits of flooding margin on n4096-q54 with 2 clients (z = 1 gives 39.6 < the 40-bit minimum; docs/PRIVACY.md).
  const config = () =>
    create(RoundConfigSchema, { vectorLength: 10, minClients: 1, maxClients: 2, deadlineUnixMs: inMinutes(5), clipNorm: 1, noiseMultiplier: 2 });

  function keyholderAs(identity: string | undefined) {
    return createClient(KeyholderService, cluster.keyholderAddress, { credentials: cluster.channelCredentials(identity) });
  }

  it('lets the gateway identity create a round key, and no other identity', async () => {
    const gateway = keyholderAs('client-gateway');
    const key = await gateway.createRoundKey({ roundId: 'tls-ok', config: config() });
    assert.ok(key.publicKey.length > 0);
    gateway.close();
    for (const identity of ['aggregator', 'keyholder']) {
      const other = keyholderAs(identity);
      await assert.rejects(other.createRoundKey({ roundId: `tls-${identity}`, config: config() }), (e: SecaggError) => {
        assert.equal(e.code, Code.PermissionDenied);
        assert.match(e.message, /only "client-gateway" may/);
        return true;
      });
      other.close();
    }
  }, 120_000);

  it('refuses a release from a certificate that is not an aggregator', async () => {
    const header = create(ReleaseRoundRequestSchema, {
      frame: { case: 'header', value: { roundId: 'tls-ok', contributionCount: 1, contributorsSha256: new Uint8Array(32), ciphertextCount: 1 } },
    });
    for (const identity of ['client-gateway', 'intruder']) {
      const intruder = keyholderAs(identity);
      await assert.rejects(
        (async () => {
          for await (const _ of intruder.releaseRound([header])) void _;
        })(),
        (e: SecaggError) => e.code === Code.PermissionDenied && /only "aggregator" may/.test(e.message),
      );
      intruder.close();
    }
  }, 120_000);

  it('refuses a keyholder caller without a client certificate', async () => {
    const anonymous = keyholderAs(undefined);
    await assert.rejects(anonymous.createRoundKey({ roundId: 'tls-anon', config: config() }), (e: SecaggError) =>
      [Code.Unauthenticated, Code.Unavailable].includes(e.code),
    );
    anonymous.close();
  }, 120_000);

  it('a plaintext connection to a TLS listener gets nowhere', async () => {
    for (const address of [cluster.gatewayAddress, cluster.keyholderAddress]) {
      const plain = createClient(ClientService, address, { credentials: grpc.credentials.createInsecure() });
      await assert.rejects(plain.getRound({ roundId: 'x' }, { deadline: 3_000 }), (e: SecaggError) =>
        [Code.Unavailable, Code.DeadlineExceeded, Code.Internal].includes(e.code),
      );
      plain.close();
    }
  }, 120_000);
});
