/**
 * One federated client as its own process, for the end-to-end round: loads
 * SEAL and builds its update first, says `{"event":"ready"}`, then on the
 * command `{"command":"submit","roundId":...}` submits with the real SDK
 * (clip, encrypt, stream with backpressure) and reports
 * `{"event":"submitted", bytesSent, attempts, submitSeconds, peakRssBytes}`.
 *
 * Environment: BENCH_GATEWAY (host:port), BENCH_CA_FILE (TLS CA),
 * BENCH_TOKEN (client bearer token), BENCH_KEYHOLDER_KEY (the keyholder's
 * verification key, PEM, pinned as a real client would), BENCH_LENGTH,
 * BENCH_SEED, BENCH_NORM.
 */
import { createInterface } from 'node:readline';
import { CkksEngine } from '@secagg/ckks';
import { SecaggClient } from '@secagg/sdk';
import { peakRssBytes } from '../proc-memory.js';
import { makeUpdate } from '../update-vectors.js';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

try {
  const update = makeUpdate(Number(env('BENCH_LENGTH')), Number(env('BENCH_SEED')), Number(env('BENCH_NORM')));
  // Instantiate SEAL's WASM now (once per process), as a running client would have.
  (await CkksEngine.create({ preset: 'n2048-q54', encoding: 'slots', scaleBits: 20 })).dispose();
  const client = new SecaggClient({ address: env('BENCH_GATEWAY'), token: env('BENCH_TOKEN'), caFile: env('BENCH_CA_FILE'), keyholderKeys: [env('BENCH_KEYHOLDER_KEY')] });
  console.log(JSON.stringify({ event: 'ready' }));
  const commands = createInterface({ input: process.stdin });
  for await (const line of commands) {
    const command = JSON.parse(line) as { command: string; roundId: string };
    if (command.command !== 'submit') continue;
    const start = performance.now();
    const result = await client.submitUpdate(command.roundId, update, { updateId: `bench-${env('BENCH_SEED')}` });
    console.log(
      JSON.stringify({
        event: 'submitted',
        bytesSent: result.bytesSent,
        attempts: result.attempts,
        submitSeconds: (performance.now() - start) / 1_000,
        peakRssBytes: peakRssBytes('self') ?? 0,
      }),
    );
    break;
  }
  client.close();
  process.exit(0);
} catch (error) {
  console.log(JSON.stringify({ event: 'error', message: (error as Error).stack ?? String(error) }));
  process.exit(1);
}
