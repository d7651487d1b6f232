/**
 * The README's CLI walkthrough, run as written against `npm run cluster`
 * (issue 13 items 9 and 10): the development cluster as a foreground process,
 * its printed `export` lines, then the README's own shell block through bash
 * with `npx secagg` (the bin `npm run build` links), then SIGINT. Checks the
 * round is released with 3 contributions, and that afterwards no process the
 * cluster started survives and its temp dir (TLS keys, keyholder store,
 * signing keys) and private Redis data are gone, while the logs asked for
 * with --log-dir stay.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '@secagg/local-cluster';
import { readVector } from '@secagg/sdk';

const CLUSTER_CLI = join(REPO_ROOT, 'tools', 'local-cluster', 'dist', 'cluster-cli.js');
const BIN = join(REPO_ROOT, 'node_modules', '.bin');

/** The README's walkthrough block: the ```sh block after the `walkthrough:` marker comment. */
function readmeWalkthrough(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const match = /<!-- walkthrough:[^\n]*-->\n```sh\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(match, 'README.md has the walkthrough block after its marker');
  return match[1]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Direct children of `pid` (Linux: ps --ppid). */
function childrenOf(pid: number): number[] {
  const out = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}

describe('npm run cluster and the README walkthrough', () => {
  let child: ChildProcess;
  let printed = '';
  let logDir: string;
  let work: string;
  const exportsPrinted = new Map<string, string>();

  beforeAll(async () => {
    logDir = mkdtempSync(join(tmpdir(), 'secagg-walkthrough-logs-'));
    work = mkdtempSync(join(tmpdir(), 'secagg-walkthrough-'));
    child = spawn(process.execPath, [CLUSTER_CLI, '--gateway-port', '0', '--private-redis', '--log-dir', logDir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, as in a terminal, so that Ctrl-C can be sent the way a terminal sends it.
      detached: true,
    });
    child.stderr!.on('data', (d: Buffer) => (printed += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the cluster did not come up within 120 s:\n${printed}`)), 120_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        printed += `${line}\n`;
        const m = /^export (SECAGG_[A-Z_]+)=(\S+)$/.exec(line);
        if (m) exportsPrinted.set(m[1]!, m[2]!);
        if (line.startsWith('Ctrl-C stops')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the cluster exited (${code}) while starting:\n${printed}`));
      });
    });
  }, 300_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(logDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }, 300_000);

  it('prints every export the README names, then runs round create → submit ×3 → close → result as written, then Ctrl-C cleans up', async () => {
    for (const name of ['SECAGG_GATEWAY', 'SECAGG_CA_FILE', 'SECAGG_KEYHOLDER_KEY_FILE', 'SECAGG_TOKEN', 'SECAGG_CLIENT_TOKEN', 'SECAGG_TOKEN_SIGNING_KEY', 'SECAGG_EXAMPLES']) {
      assert.ok(exportsPrinted.has(name), `npm run cluster prints export ${name}:\n${printed}`);
    }
    const tempDir = /^temp dir\s+(\S+)/m.exec(printed)?.[1];
    const redisDir = /data in (\S+), removed on exit/.exec(printed)?.[1];
    assert.ok(tempDir && existsSync(tempDir), 'the temp dir is printed and exists while the cluster runs');
    assert.ok(redisDir && existsSync(redisDir), 'the private Redis data dir is printed and exists');
    const printedPids = [...printed.matchAll(/(?:keyholder|client-gateway|aggregator-\d|redis-server) (\d+)/g)].map((m) => Number(m[1]));
    const started = childrenOf(child.pid!);
    assert.equal(started.length, 5, `redis-server, keyholder, gateway and 2 aggregators run as children: ${started.join(', ')}`);
    assert.deepEqual([...started].sort(), [...new Set(printedPids)].sort(), 'the printed pids are the children');

    // The README's block, in bash, with the printed exports; only the round id placeholder and the output path change.
    const block = readmeWalkthrough();
    const [create, rest] = block.split(/^export ROUND=r-XXXX.*$/m);
    assert.ok(create && rest, 'the walkthrough sets ROUND=r-XXXX after round create');
    // A newcomer's shell: the machine's node and npx first (npx itself puts the project's
    // node_modules/.bin, with the pinned node, ahead of them), unless this machine has no npx of its own.
    const machinePath = (process.env.PATH ?? '').split(':').filter((dir) => dir !== '' && !dir.startsWith(join(REPO_ROOT, 'node_modules')));
    const machineNpx = machinePath.some((dir) => existsSync(join(dir, 'npx')));
    const env = {
      PATH: machineNpx ? machinePath.join(':') : `${BIN}:${machinePath.join(':')}`,
      HOME: process.env.HOME ?? '',
      // Never let npx fetch a package named "secagg" from a registry: the bin must be the linked one.
      npm_config_yes: 'false',
      npm_config_update_notifier: 'false',
      ...Object.fromEntries(exportsPrinted),
    };
    const bash = (script: string, extra: Record<string, string> = {}) =>
      spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: REPO_ROOT, env: { ...env, ...extra }, encoding: 'utf8', timeout: 180_000 });
    const created = bash(create);
    assert.equal(created.status, 0, `round create:\n${created.stdout}\n${created.stderr}`);
    const roundId = /r-[A-Za-z0-9_-]{12}/.exec(created.stdout)?.[0];
    assert.ok(roundId, created.stdout);
    const meanFile = join(work, 'mean.npy');
    assert.match(rest, /--out mean\.npy/);
    const ran = bash(rest.replace('--out mean.npy', `--out ${meanFile}`), { ROUND: roundId });
    assert.equal(ran.status, 0, `the walkthrough:\n${ran.stdout}\n${ran.stderr}`);
    assert.equal([...ran.stdout.matchAll(/^committed update \S+ to /gm)].length, 3, ran.stdout);
    assert.match(ran.stdout, /released/);
    assert.match(ran.stdout, /wrote the mean of 3 updates \(10000 values\)/);
    const mean = readVector(meanFile).values;
    assert.equal(mean.length, 10_000);
    assert.ok(mean.every((v) => Number.isFinite(v)));

    // Ctrl-C: a terminal sends SIGINT to the whole foreground process group, the services included.
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    process.kill(-child.pid!, 'SIGINT');
    assert.equal(await exited, 0, printed);
    assert.match(printed, /stopped; temporary files removed/);
    for (const pid of started) assert.equal(alive(pid), false, `process ${pid} outlived npm run cluster`);
    assert.equal(existsSync(tempDir), false, 'the temp dir (TLS keys, keyholder store, signing keys) is removed');
    assert.equal(existsSync(redisDir), false, 'the private Redis data dir is removed');
    assert.deepEqual(readdirSync(logDir).sort(), ['aggregator-1.log', 'aggregator-2.log', 'client-gateway.log', 'keyholder.log'], 'the logs asked for stay');
  }, 300_000);
});
