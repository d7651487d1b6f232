/**
 * Health and metrics of the real services: readiness follows Redis going
 * down and coming back, a draining gateway stops reporting SERVING, and the
 * Prometheus counters move by exactly what a round did.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { Code, createClient, type SecaggError } from '@secagg/core';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { toCkksParams } from '@secagg/protocol';
import { probe } from '@secagg/observability';
import { ClientService, RoundState, SubmitUpdateRequestSchema } from '@secagg/proto';
import { LocalCluster, SHIPPED_REDIS_CONF } from '@secagg/local-cluster';
import { clipToNorm } from '@secagg/sdk';
import { inMinutes, makeUpdate, metricSample as sample, scrape, uploadFrames, waitForEnd } from './helpers.js';

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('health and metrics', () => {
  let cluster: LocalCluster;
  const status = (name: string, identity?: string) =>
    probe({ address: `localhost:${cluster.healthPorts.get(name)}`, credentials: cluster.channelCredentials(identity), timeoutMs: 2_000 }).catch(() => 'UNREACHABLE');

  beforeAll(async () => {
    cluster = await LocalCluster.start({
      aggregators: 2,
      allowUnsafeNoiseFreeRelease: true,
      privateRedis: { configFile: SHIPPED_REDIS_CONF },
      env: {
        'client-gateway': { GATEWAY_HEALTH_CHECK_INTERVAL_MS: '200' },
        aggregator: { AGGREGATOR_HEALTH_CHECK_INTERVAL_MS: '200' },
        keyholder: { KEYHOLDER_HEALTH_CHECK_INTERVAL_MS: '200' },
      },
    });
  }, 240_000);
  afterAll(async () => cluster?.stop(), 240_000);

  it('every service reports SERVING once its dependencies are reachable', async () => {
    assert.equal(await status('client-gateway'), 'SERVING');
    assert.equal(await status('keyholder', 'client-gateway'), 'SERVING');
    assert.equal(await status('aggregator-1'), 'SERVING');
    assert.equal(await status('aggregator-2'), 'SERVING');
  }, 240_000);

  it('counts what a round did: calls, refusals by reason, commits, folds, releases, epsilon', async () => {
    const coordinator = await cluster.client('coordinator', 'metrics-coordinator');
    const length = 9_000;
    const round = await coordinator.createRound({
      vectorLength: length, minClients: 3, maxClients: 3, deadlineUnixMs: inMinutes(10), clipNorm: 1, noiseMultiplier: 8, privacyGroup: 'metrics',
    });
    // One upload with a bad ciphertext: refused as bad_ciphertext.
    const { round: info, publicKey } = await coordinator.getRound(round.roundId);
    const params = toCkksParams(info!.ckks!);
    using engine = await CkksEngine.create(params);
    using encryptor = engine.createEncryptor(publicKey);
    const chunks = [...encryptVector(encryptor, params, clipToNorm(makeUpdate(length, 5, 1), 1).values)];
    const bad = Buffer.from(chunks[1]!);
    chunks[1] = bad.fill(0xff, bad.length - 8); // last coefficient >= q
    const frames = uploadFrames(round.roundId, 'bad', length, chunks);
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', 'metrics-bad')}`);
    await assert.rejects(raw.submitUpdate(frames, { metadata }), (e: SecaggError) => e.code === Code.InvalidArgument);
    raw.close();

    for (let i = 0; i < 3; i++) {
      const client = await cluster.client('client', `metrics-client-${i}`);
      await client.submitUpdate(round.roundId, makeUpdate(length, i + 1, 1));
      client.close();
    }
    const ended = await waitForEnd(coordinator, round.roundId);
    assert.equal(ended.state, RoundState.RELEASED, ended.failureReason);
    await coordinator.getResult(round.roundId);
    coordinator.close();

    const gateway = await scrape(cluster.metricsPorts.get('client-gateway')!);
    const submit = '/secagg.client.v1.ClientService/SubmitUpdate';
    assert.equal(sample(gateway, 'secagg_grpc_calls_total', { method: submit, code: 'OK' }), 3);
    assert.equal(sample(gateway, 'secagg_grpc_calls_total', { method: submit, code: 'INVALID_ARGUMENT' }), 1);
    assert.equal(sample(gateway, 'secagg_grpc_refusals_total', { method: submit, reason: 'bad_ciphertext' }), 1);
    assert.equal(sample(gateway, 'secagg_grpc_calls_total', { method: '/secagg.client.v1.ClientService/GetResult', code: 'OK' }), 1);
    assert.equal(sample(gateway, 'secagg_updates', { stage: 'committed' }), 3);
    assert.equal(sample(gateway, 'secagg_updates', { stage: 'folded' }), 3);
    assert.equal(sample(gateway, 'secagg_rounds', { state: 'released' }), 1);
    assert.equal(sample(gateway, 'secagg_ingested_values'), 3 * length);
    assert.equal(sample(gateway, 'secagg_ingested_bytes'), 3 * info!.ckks!.ciphertextCount * info!.ckks!.ciphertextBytes);
    assert.equal(sample(gateway, 'secagg_staged_bytes'), 0, 'nothing left staged');

    const aggregators = await Promise.all(['aggregator-1', 'aggregator-2'].map((n) => scrape(cluster.metricsPorts.get(n)!)));
    assert.equal(aggregators.reduce((n, text) => n + sample(text, 'secagg_folds_total', { outcome: 'folded' }), 0), 3);
    assert.equal(aggregators.reduce((n, text) => n + sample(text, 'secagg_round_jobs_total', { kind: 'finalize-round', result: 'RELEASED' }), 0), 1);
    assert.ok(aggregators.reduce((n, text) => n + sample(text, 'secagg_folds_total', { outcome: 'checkpoint' }), 0) >= 1, 'range checkpoints recorded');

    const keyholder = await scrape(cluster.metricsPorts.get('keyholder')!);
    assert.equal(sample(keyholder, 'secagg_round_keys', { status: 'released' }), 1);
    assert.equal(sample(keyholder, 'secagg_grpc_calls_total', { method: '/secagg.keyholder.v1.KeyholderService/ReleaseRound', code: 'OK' }), 1);
    assert.ok(sample(keyholder, 'secagg_privacy_epsilon_spent', { group: 'metrics' }) > 0);
    assert.ok(sample(keyholder, 'secagg_privacy_epsilon_remaining', { group: 'metrics' }) > 0);
  }, 240_000);

  it('correlates one call across services by request id in the JSON logs', async () => {
    const coordinator = await cluster.client('coordinator', 'logs-coordinator');
    const round = await coordinator.createRound({ vectorLength: 10, minClients: 1, maxClients: 1, deadlineUnixMs: inMinutes(10), clipNorm: 1, noiseMultiplier: 0, unsafeDisableNoise: true, privacyGroup: 'logs' });
    coordinator.close();
    const find = (name: string, msg: string) =>
      cluster
        .logLines(name)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((entry) => entry.msg === msg && entry.roundId === round.roundId);
    // pino writes stdout asynchronously (SonicBoom fs.write on the libuv threadpool) while the
    // response goes out on the socket at once: a line may arrive after the call returned.
    let gateway: Record<string, unknown> | undefined;
    let keyholder: Record<string, unknown> | undefined;
    await until('both services to log the round', async () => {
      gateway = find('client-gateway', 'round created');
      keyholder = find('keyholder', 'round key created');
      return gateway !== undefined && keyholder !== undefined;
    }, 5_000);
    assert.ok(gateway && keyholder, 'both services logged the round');
    assert.match(String(gateway.requestId), /^[0-9a-f-]{36}$/);
    assert.equal(keyholder.requestId, gateway.requestId);
    assert.equal(gateway.service, 'client-gateway');
    assert.equal(keyholder.service, 'keyholder');
  }, 240_000);

  it('readiness follows Redis: NOT_SERVING while it is down, SERVING when it is back', async () => {
    await cluster.privateRedis!.kill();
    await until('gateway NOT_SERVING', async () => (await status('client-gateway')) === 'NOT_SERVING');
    await until('aggregator NOT_SERVING', async () => (await status('aggregator-1')) === 'NOT_SERVING');
    assert.equal(await status('keyholder', 'client-gateway'), 'SERVING', 'the keyholder does not depend on Redis');
    await cluster.privateRedis!.restart();
    await until('gateway SERVING', async () => (await status('client-gateway')) === 'SERVING', 30_000);
    await until('aggregator SERVING', async () => (await status('aggregator-1')) === 'SERVING', 30_000);
  }, 240_000);

  it('a draining gateway reports NOT_SERVING while it finishes in-flight work', async () => {
    // Hold an upload open so the gateway's shutdown has something to wait for.
    const coordinator = await cluster.client('coordinator', 'drain-coordinator');
    const round = await coordinator.createRound({ vectorLength: 10, minClients: 1, maxClients: 2, deadlineUnixMs: inMinutes(10), clipNorm: 1, noiseMultiplier: 0, unsafeDisableNoise: true, privacyGroup: 'drain' });
    coordinator.close();
    const raw = createClient(ClientService, cluster.gatewayAddress, { credentials: cluster.channelCredentials() });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await cluster.token('client', 'drain-client')}`);
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    async function* slow() {
      yield create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId: round.roundId, updateId: 'u', vectorLength: 10, ciphertextCount: 1 } } });
      await hold;
    }
    const upload = raw.submitUpdate(slow(), { metadata }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const pid = cluster.pidOf('client-gateway')!;
    process.kill(pid, 'SIGTERM');
    await until('draining gateway NOT_SERVING', async () => (await status('client-gateway')) === 'NOT_SERVING', 5_000);
    release();
    await upload;
    raw.close();
  }, 240_000);
});
