/**
 * The benchmark's own child processes (the transport sink, the SDK clients):
 * node scripts of this package that speak JSON lines on stdout and take
 * commands as lines on stdin. Run on the same pinned runtime as the bench.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Absolute path of a compiled script of this package (`dist/<relative>`). */
export function benchScript(relative: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), relative);
}

export type JsonMessage = Record<string, unknown>;

export class JsonChild {
  private readonly messages: JsonMessage[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly stderr: string[] = [];
  private exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  private constructor(readonly process: ChildProcess, readonly name: string) {
    createInterface({ input: process.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        this.messages.push(JSON.parse(line) as JsonMessage);
      } catch {
        return;
      }
      this.wake();
    });
    createInterface({ input: process.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > 50) this.stderr.shift();
    });
    this.exited = new Promise((resolve) => {
      process.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        this.wake();
        resolve();
      });
    });
  }

  /** Starts `node <script>` with `env` added to a minimal environment. */
  static start(name: string, script: string, env: Record<string, string> = {}): JsonChild {
    const child = spawn(process.execPath, ['--enable-source-maps', script], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new JsonChild(child, name);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first message (consumed) for which `accept` is true; rejects if the process exits first or `timeoutMs` passes. */
  async next(accept: (m: JsonMessage) => boolean, timeoutMs: number): Promise<JsonMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.messages.findIndex(accept);
      if (index >= 0) return this.messages.splice(index, 1)[0]!;
      const error = this.messages.find((m) => m.event === 'error');
      if (error) throw new Error(`${this.name} failed: ${String(error.message)}`);
      if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}): ${this.stderr.slice(-10).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no answer within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Writes one command line to the child's stdin. */
  send(command: JsonMessage): void {
    this.process.stdin!.write(`${JSON.stringify(command)}\n`);
  }

  /** SIGTERM (then SIGKILL after 5 s) and wait for the exit. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}
