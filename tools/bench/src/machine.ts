/** Where and with what the benchmark ran: machine, runtime and dependency versions. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, arch, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '@secagg/local-cluster';

/** The version in the package.json of the installed package `name`, found from its resolved entry point. */
export function packageVersion(name: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      const parent = dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'unknown';
  }
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** Runtime and dependency versions, and the commit measured (read-only git). */
export function versions(): Record<string, string> {
  const redis = /v=(\S+)/.exec(run('redis-server', ['--version']))?.[1] ?? 'unknown';
  const commit = run('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    node: process.version,
    nodeSeal: packageVersion('node-seal'),
    grpcJs: packageVersion('@grpc/grpc-js'),
    protobufEs: packageVersion('@bufbuild/protobuf'),
    bullmq: packageVersion('bullmq'),
    ioredis: packageVersion('ioredis'),
    redis,
    secaggCommit: commit === 'unknown' ? commit : `${commit}${dirty !== '' && dirty !== 'unknown' ? ' (working tree modified)' : ''}`,
  };
}

/**
 * The commit measured (full hash) and whether the tracked files matched it
 * when the run started: committed results must come from a clean tree.
 */
export function source(): { secaggCommit: string; treeClean: boolean } {
  const commit = run('git', ['rev-parse', 'HEAD']);
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']);
  return { secaggCommit: commit, treeClean: commit !== 'unknown' && dirty === '' };
}

/** Cores, memory and load: the load average says how much the figures were shared with other work. */
export function machine(): Record<string, string | number | number[]> {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    platform: `${platform()} ${release()}`,
    arch: arch(),
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
