/**
 * The real keyholder process (dist/main.js) at start: spool files left by a
 * release that crashed are removed before it serves; other files in the
 * spool directory are not touched.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

/** Starts the keyholder and resolves with its log lines once it listens (rejects if it exits first). */
function startKeyholder(env: Record<string, string>): { child: ChildProcess; listening: Promise<Record<string, unknown>[]> } {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = new Promise<Record<string, unknown>[]>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return;
      }
      if (lines.at(-1)!.event === 'listening') resolve(lines);
    });
    child.once('exit', (code) => reject(new Error(`keyholder exited (${code}) before listening: ${stderr}`)));
  });
  return { child, listening };
}

describe('keyholder start-up', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyholder-startup-'));
  }, 120_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('removes the spool files of a crashed release before it serves, and only those', async () => {
    const spool = join(dir, 'data', 'spool');
    mkdirSync(spool, { recursive: true });
    const stale = ['round-a.0123456789abcdef.spool', 'round-b.fedcba9876543210.spool'];
    for (const name of stale) writeFileSync(join(spool, name), randomBytes(1_000));
    writeFileSync(join(spool, 'README'), 'not a spool file');

    const started = startKeyholder({
      KEYHOLDER_DATA_DIR: join(dir, 'data'),
      KEYHOLDER_KEK: randomBytes(32).toString('base64'),
      KEYHOLDER_LISTEN_ADDRESS: '127.0.0.1:0',
      KEYHOLDER_METRICS_LISTEN_ADDRESS: '',
      KEYHOLDER_ALLOW_INSECURE: 'true',
    });
    child = started.child;
    const logs = await started.listening;

    assert.deepEqual(readdirSync(spool), ['README']);
    for (const name of stale) assert.equal(existsSync(join(spool, name)), false);
    const notice = logs.find((l) => l.msg === 'removed spool files left by an interrupted release');
    assert.equal(notice?.removed, 2);
  }, 120_000);
});
