import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { pino } from 'pino';
import { file_secagg_client_v1_client_service } from '@secagg/proto';
import { HealthMonitor } from './health.js';
import { addReflection } from './reflection.js';
import { ServiceMetrics } from './metrics.js';
import { probe } from './probe.js';

describe('health, reflection and metrics on a real grpc-js server', () => {
  const server = new grpc.Server();
  let dependencyUp = true;
  const health = new HealthMonitor({
    services: ['secagg.client.v1.ClientService'],
    checks: { dependency: async () => dependencyUp, slow: () => new Promise((r) => setTimeout(() => r(true), 5)) },
    intervalMs: 50,
    checkTimeoutMs: 1_000,
    logger: pino({ level: 'silent' }),
  });
  let address = '';
  const credentials = grpc.credentials.createInsecure();
  const status = (service?: string) => probe({ address, service, credentials, timeoutMs: 2_000 });
  const settle = () => new Promise((r) => setTimeout(r, 200));

  beforeAll(async () => {
    health.addToServer(server);
    addReflection(server, [file_secagg_client_v1_client_service]);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
    await health.start();
  });
  afterAll(() => {
    health.stop();
    server.forceShutdown();
  });

  it('reports SERVING only while every check passes, and NOT_SERVING once draining', async () => {
    assert.equal(await status(), 'SERVING');
    assert.equal(await status('secagg.client.v1.ClientService'), 'SERVING');
    dependencyUp = false;
    await settle();
    assert.equal(await status(), 'NOT_SERVING');
    assert.equal(health.lastResults.get('dependency'), false);
    dependencyUp = true;
    await settle();
    assert.equal(await status(), 'SERVING');
    health.drain();
    assert.equal(await status(), 'NOT_SERVING');
    await settle();
    assert.equal(await status(), 'NOT_SERVING', 'a passing check does not undo draining');
  });

  it('lists and describes the services through server reflection', async () => {
    const require = createRequire(import.meta.url);
    const protoPath = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
    const definition = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath)) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new definition.grpc.reflection.v1.ServerReflection(address, credentials) as unknown as grpc.Client & {
      serverReflectionInfo(): grpc.ClientDuplexStream<object, { listServicesResponse?: { service: { name: string }[] }; fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } }>;
    };
    const call = client.serverReflectionInfo();
    const replies: unknown[] = [];
    call.on('data', (d) => replies.push(d));
    const done = new Promise((resolve, reject) => call.on('end', resolve).on('error', reject));
    call.write({ listServices: '' });
    call.write({ fileContainingSymbol: 'secagg.client.v1.ClientService' });
    call.end();
    await done;
    client.close();
    const names = (replies[0] as { listServicesResponse: { service: { name: string }[] } }).listServicesResponse.service.map((s) => s.name);
    assert.ok(names.includes('secagg.client.v1.ClientService'), names.join(','));
    const files = (replies[1] as { fileDescriptorResponse: { fileDescriptorProto: Buffer[] } }).fileDescriptorResponse.fileDescriptorProto;
    assert.ok(files.some((f) => f.toString('latin1').includes('secagg/client/v1/client_service.proto')));
  });

  it('counts gRPC calls by method and code and serves them on /metrics', async () => {
    const metrics = new ServiceMetrics('test');
    metrics.onCallEnd('/secagg.client.v1.ClientService/GetRound', 0, 2);
    metrics.onCallEnd('/secagg.client.v1.ClientService/GetRound', 5, 1);
    metrics.onCallEnd('/secagg.client.v1.ClientService/GetRound', 5, 1);
    const { port, server: http } = await metrics.listen('127.0.0.1:0');
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    http.close();
    assert.match(body, /secagg_grpc_calls_total\{method="\/secagg.client.v1.ClientService\/GetRound",code="OK",service="test"\} 1/);
    assert.match(body, /secagg_grpc_calls_total\{method="\/secagg.client.v1.ClientService\/GetRound",code="NOT_FOUND",service="test"\} 2/);
    assert.match(body, /secagg_process_resident_memory_bytes/);
  });
});
