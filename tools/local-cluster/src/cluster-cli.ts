#!/usr/bin/env node
/**
 * `npm run cluster`: a development cluster in the foreground, without Docker
 * (issue 13 item 9). Starts the Redis at REDIS_URL (default 127.0.0.1:6379)
 * or, when none answers, a private redis-server; then the keyholder, the
 * gateway and the aggregators as child processes on TLS with development
 * certificates. Prints what a CLI user needs — the gateway address, the CA
 * file, the keyholder verification key to pin, a coordinator and a client
 * token, the token signing key to mint more, three example updates — as
 * `export` lines to paste, then waits. SIGINT (Ctrl-C) or SIGTERM stops every
 * process and removes the temp dir (certificates, keys, keyholder store,
 * examples; logs too unless --log-dir names a directory to keep them in).
 *
 * Options: --gateway-port P (7100; 0 = any free port) --aggregators N (2)
 *          --private-redis (always start a private redis-server) --log-dir DIR
 *
 * Development only: the keys live in a temp dir and die with the cluster.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeVector } from '@secagg/sdk';
import { LocalCluster } from './local-cluster.js';
import { freePort } from './redis-server.js';

/** Length of the example updates; the README walkthrough's round has this vector_length. */
export const EXAMPLE_UPDATE_LENGTH = 10_000;
/** Number of example updates written (one per client of the walkthrough). */
export const EXAMPLE_UPDATES = 3;

const { values: args } = parseArgs({
  options: {
    'gateway-port': { type: 'string', default: '7100' },
    aggregators: { type: 'string', default: '2' },
    'private-redis': { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  console.log('usage: npm run cluster [-- --gateway-port 7100] [--aggregators 2] [--private-redis] [--log-dir DIR]');
  process.exit(0);
}
const gatewayPort = Number(args['gateway-port']);
const aggregators = Number(args.aggregators);
if (!Number.isInteger(gatewayPort) || gatewayPort < 0 || gatewayPort > 65_535) fail(`--gateway-port ${args['gateway-port']} is not a port`);
if (!Number.isInteger(aggregators) || aggregators < 1 || aggregators > 16) fail(`--aggregators ${args.aggregators} must be 1..16`);
if (gatewayPort !== 0 && !(await portIsFree(gatewayPort))) {
  fail(`port ${gatewayPort} is in use (another cluster, or docker compose?): stop it, or pick another with --gateway-port (0 = any free port)`);
}

function fail(message: string): never {
  console.error(`secagg cluster: ${message}`);
  process.exit(2);
}

async function portIsFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Three small updates (.npy, float32 on disk) of different norms, so the walkthrough needs no data of its own. */
function writeExampleUpdates(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (let c = 1; c <= EXAMPLE_UPDATES; c++) {
    const values = new Float64Array(EXAMPLE_UPDATE_LENGTH);
    for (let i = 0; i < values.length; i++) values[i] = (0.5 * c * Math.sin(0.001 * (i + 1) * c)) / Math.sqrt(values.length / 2);
    writeVector(join(dir, `update-${c}.npy`), values);
  }
}

/** Single-quoted for a POSIX shell (paths from tmpdir() may, in principle, hold anything). */
const quote = (s: string): string => (/^[A-Za-z0-9_./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

console.log(`secagg cluster: starting Redis (or a private redis-server), the keyholder, the gateway and ${aggregators} aggregator(s)…`);
let cluster: LocalCluster;
try {
  cluster = await LocalCluster.start({
    aggregators,
    privateRedis: args['private-redis'] ? {} : undefined,
    logDir: args['log-dir'],
    // The production keyholder's floor: no release decrypts fewer than 3 updates.
    minClientsFloor: 3,
    env: { 'client-gateway': { GATEWAY_LISTEN_ADDRESS: `127.0.0.1:${gatewayPort === 0 ? await freePort() : gatewayPort}` } },
  });
} catch (error) {
  fail(`could not start: ${(error as Error).message}`);
}

const dir = cluster.workDir;
const verificationKeyFile = join(dir, 'keyholder-verification-key.pem');
writeFileSync(verificationKeyFile, cluster.keyholderVerificationKeyPem);
const tokenSigningKeyFile = join(dir, 'token-signing-key.pem');
writeFileSync(tokenSigningKeyFile, cluster.tokenSigningKeyPem, { mode: 0o600 });
const examples = join(dir, 'examples');
writeExampleUpdates(examples);
const exports: [string, string][] = [
  ['SECAGG_GATEWAY', cluster.gatewayAddress],
  ['SECAGG_CA_FILE', cluster.certificates!.caFile],
  ['SECAGG_KEYHOLDER_KEY_FILE', verificationKeyFile],
  ['SECAGG_TOKEN', await cluster.token('coordinator', 'coordinator')],
  ['SECAGG_CLIENT_TOKEN', await cluster.token('client', 'client-1')],
  ['SECAGG_TOKEN_SIGNING_KEY', tokenSigningKeyFile],
  ['SECAGG_EXAMPLES', examples],
];
const pids = cluster.processNames().map((name) => `${name} ${cluster.pidOf(name)}`);
if (cluster.privateRedis) pids.unshift(`redis-server ${cluster.privateRedis.process.pid}`);
console.log(
  [
    '',
    `gateway            ${cluster.gatewayAddress} (TLS; CA ${cluster.certificates!.caFile})`,
    `redis              ${cluster.redisUrl}, key prefix ${cluster.keyPrefix}` +
      (cluster.privateRedis ? ` (private redis-server, data in ${cluster.privateRedis.dir}, removed on exit)` : ' (its keys are deleted on exit)'),
    `keyholder key      ${verificationKeyFile} (clients pin it)`,
    `tokens             coordinator (subject "coordinator"), client (subject "client-1"), valid 1 h; mint more with`,
    `                   npx secagg token mint --signing-key "$SECAGG_TOKEN_SIGNING_KEY" --subject client-2 --role client`,
    `example updates    ${examples}/update-{1..${EXAMPLE_UPDATES}}.npy (${EXAMPLE_UPDATE_LENGTH} values each)`,
    `processes          ${pids.join(', ')}`,
    `logs               ${cluster.logDir}`,
    `temp dir           ${dir} (removed on exit)`,
    '',
    'Paste into another shell (README "A round with the CLI"):',
    '',
    ...exports.map(([name, value]) => `export ${name}=${quote(value)}`),
    '',
    'Ctrl-C stops the cluster and removes its temporary files.',
  ].join('\n'),
);

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    console.log(`secagg cluster: ${signal} again; still stopping (services drain for a few seconds)…`);
    return;
  }
  stopping = true;
  console.log(`\nsecagg cluster: ${signal}: stopping every process…`);
  try {
    await cluster.stop();
    console.log('secagg cluster: stopped; temporary files removed.');
    process.exit(0);
  } catch (error) {
    console.error(`secagg cluster: stopping failed: ${(error as Error).message}`);
    process.exit(1);
  }
}
// Last resort if this process dies another way (an uncaught error): no service outlives it.
process.on('exit', () => {
  for (const name of cluster.processNames()) {
    const pid = cluster.pidOf(name);
    if (pid !== undefined && cluster.isRunning(name)) process.kill(pid, 'SIGKILL');
  }
  if (cluster.privateRedis && cluster.privateRedis.process.exitCode === null) cluster.privateRedis.process.kill('SIGKILL');
});
process.on('SIGINT', (signal) => void shutdown(signal));
process.on('SIGTERM', (signal) => void shutdown(signal));
