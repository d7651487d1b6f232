#!/usr/bin/env node
/**
 * `secagg-probe`: the health check the compose file and Kubernetes use.
 * Asks a service's grpc.health.v1 Check and exits 0 only on SERVING.
 *
 *   secagg-probe --address 127.0.0.1:7100 [--service NAME] [--ca ca.pem [--cert c.pem --key k.pem]] [--insecure] [--timeout-ms 3000]
 *
 * Exit codes: 0 serving, 1 not serving or unreachable, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

export async function probe(options: {
  address: string;
  service?: string;
  credentials: grpc.ChannelCredentials;
  timeoutMs: number;
}): Promise<string> {
  const Client = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
  const client = new Client(options.address, options.credentials) as unknown as grpc.Client & {
    check(request: { service: string }, options: grpc.CallOptions, callback: (e: grpc.ServiceError | null, r?: { status: string }) => void): void;
  };
  try {
    return await new Promise((resolve, reject) => {
      client.check({ service: options.service ?? '' }, { deadline: Date.now() + options.timeoutMs }, (error, response) =>
        error ? reject(error) : resolve(String(response?.status ?? 'UNKNOWN')),
      );
    });
  } finally {
    client.close();
  }
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        address: { type: 'string' },
        service: { type: 'string' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        insecure: { type: 'boolean' },
        'timeout-ms': { type: 'string', default: '3000' },
      },
    }));
  } catch (error) {
    console.error(`secagg-probe: ${(error as Error).message}`);
    return 2;
  }
  if (!values.address) {
    console.error('secagg-probe: --address host:port is required');
    return 2;
  }
  const credentials = values.insecure
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(
        values.ca ? readFileSync(values.ca) : null,
        values.key ? readFileSync(values.key) : null,
        values.cert ? readFileSync(values.cert) : null,
      );
  try {
    const status = await probe({ address: values.address, service: values.service, credentials, timeoutMs: Number(values['timeout-ms']) });
    console.log(status);
    return status === 'SERVING' ? 0 : 1;
  } catch (error) {
    console.log(`UNREACHABLE: ${(error as grpc.ServiceError).details ?? (error as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) main().then((code) => process.exit(code));
