/**
 * `npm run demo`: one full round on a local cluster (keyholder, gateway, two
 * aggregators as child processes) with simulated clients, then a table.
 * Exit 0 only when the released mean is within the expected noise of the
 * true mean of the clipped updates.
 *
 * Options: --clients N (10) --length L (100000) --noise-multiplier Z (1.0) --clip-norm C (1.0)
 *          --keyholders N (1: the single keyholder; N > 1: a committee of threshold keyholders)
 *          --threshold T (N; T < N: Shamir-dealt key shares, any T keyholders release)
 */
import { parseArgs } from 'node:util';
import { clipToNorm } from '@secagg/sdk';
import { RoundState } from '@secagg/proto';
import { LocalCluster } from './local-cluster.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    length: { type: 'string', default: '100000' },
    'noise-multiplier': { type: 'string', default: '1.0' },
    'clip-norm': { type: 'string', default: '1.0' },
    keyholders: { type: 'string', default: '1' },
    threshold: { type: 'string' },
  },
});
const clients = Number(args.clients);
const length = Number(args.length);
const z = Number(args['noise-multiplier']);
const clipNorm = Number(args['clip-norm']);
const keyholders = Number(args.keyholders);
const threshold = args.threshold === undefined ? keyholders : Number(args.threshold);

/** A simulated fine-tuning update: Gaussian-ish values, norm around 2C so clipping is exercised. */
function simulatedUpdate(seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    values[i] = ((state / 2 ** 31) * 2 - 1) * (2 * clipNorm * Math.sqrt(3 / length));
  }
  return values;
}

const started = performance.now();
const keyholderText = keyholders > 1 ? `${keyholders} keyholders, ${threshold} of ${keyholders} to release` : 'keyholder';
console.log(`secagg demo: starting a local cluster (${keyholderText}, gateway, 2 aggregators)…`);
// The production keyholder's floor: no release decrypts fewer than 3 updates (the demo's --clients must be >= 3).
const cluster = await LocalCluster.start({ aggregators: 2, minClientsFloor: 3, keyholders, threshold });
let exitCode = 1;
try {
  const coordinator = await cluster.client('coordinator', 'demo-coordinator');
  const { round, privacy } = await coordinator.createRoundWithPrivacy({
    vectorLength: length,
    minClients: clients,
    maxClients: clients,
    deadlineUnixMs: BigInt(Date.now() + 10 * 60_000),
    clipNorm,
    noiseMultiplier: z,
  });
  console.log(`round ${round.roundId}: ${length} values, ${clients} clients, preset ${round.ckks?.preset}, ${round.ckks?.ciphertextCount} ciphertexts per update`);

  const trueSum = new Float64Array(length);
  let bytes = 0;
  const submitStart = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const update = simulatedUpdate(i + 1);
      const clipped = clipToNorm(update, clipNorm).values;
      for (let j = 0; j < length; j++) trueSum[j]! += clipped[j]!;
      const client = await cluster.client('client', `demo-client-${i + 1}`);
      try {
        const result = await client.submitUpdate(round.roundId, update);
        bytes += result.bytesSent;
      } finally {
        client.close();
      }
    }),
  );
  const submitSeconds = (performance.now() - submitStart) / 1000;

  let status = await coordinator.getRoundStatus(round.roundId);
  const waitUntil = Date.now() + 5 * 60_000;
  while (status.state !== RoundState.RELEASED && status.state !== RoundState.FAILED && Date.now() < waitUntil) {
    await new Promise((r) => setTimeout(r, 100));
    status = await coordinator.getRoundStatus(round.roundId);
  }
  if (status.state !== RoundState.RELEASED) throw new Error(`round ended ${RoundState[status.state]}: ${status.failureReason}`);
  const result = await coordinator.getResult(round.roundId);
  coordinator.close();

  let maxDiff = 0;
  for (let j = 0; j < length; j++) maxDiff = Math.max(maxDiff, Math.abs(result.mean[j]! - trueSum[j]! / clients));
  const meanSigma = result.header.noiseSigma / clients;
  const limit = 6 * meanSigma;
  const wall = (performance.now() - started) / 1000;
  const rows: [string, string][] = [
    ['keyholders (threshold)', keyholders > 1 ? `${keyholders} (${threshold})` : '1'],
    ['clients', String(clients)],
    ['values per update', String(length)],
    ['bytes per value on the wire', (bytes / (clients * length)).toFixed(2)],
    ['upload time, all clients', `${submitSeconds.toFixed(2)} s`],
    ['wall time (cluster start to result)', `${wall.toFixed(2)} s`],
    [keyholders > 1 ? 'noise sigma on the sum (sqrt(threshold)*z*C)' : 'noise sigma on the sum (z*C)', result.header.noiseSigma.toPrecision(4)],
    ['expected noise sigma/count on the mean', meanSigma.toPrecision(4)],
    ['max |released mean - true mean|', maxDiff.toPrecision(4)],
    ['max allowed (6 sigma/count)', limit.toPrecision(4)],
    ['epsilon of this release (delta)', `${result.header.epsilonSpent.toPrecision(4)} (${result.header.delta})`],
    ['flooding margin (bits; 40 = default minimum)', privacy.floodingMarginBits.toFixed(1)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n| ${'measure'.padEnd(width)} | value |\n|${'-'.repeat(width + 2)}|-------|`);
  for (const [k, v] of rows) console.log(`| ${k.padEnd(width)} | ${v} |`);
  exitCode = maxDiff <= limit ? 0 : 1;
  console.log(exitCode === 0 ? '\nOK: the released mean is within the expected noise.' : '\nFAIL: the released mean is outside the expected noise.');
} catch (error) {
  console.error(`demo failed: ${(error as Error).message}\nservice logs: ${cluster.logDir}`);
  process.env.SECAGG_KEEP_LOGS = '1';
} finally {
  await cluster.stop();
}
process.exit(exitCode);
