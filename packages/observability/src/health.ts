/**
 * The gRPC health checking protocol (grpc.health.v1) with real readiness:
 * each service registers named checks (Redis reachable, keyholder reachable,
 * SEAL loaded, …); a monitor runs them periodically and reports SERVING only
 * while all pass and the process is not draining. The overall status ('')
 * and each gRPC service name of the process report the same state.
 */
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';

/**
 * A readiness check: resolves true when the dependency is usable, or a verdict
 * with the reason it is not (logged, and kept in `lastReasons`). Must not throw for long.
 */
export type ReadinessCheck = () => Promise<boolean | { ok: boolean; reason: string }>;

export interface HealthOptions {
  /** gRPC service names this process serves (reported alongside the overall status ''). */
  services: readonly string[];
  checks: Record<string, ReadinessCheck>;
  /** How often checks run, ms. */
  intervalMs: number;
  /** A check that takes longer than this counts as failed, ms. */
  checkTimeoutMs: number;
  logger: Logger;
}

export class HealthMonitor {
  private readonly implementation: HealthImplementation;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  private status: ServingStatus = 'NOT_SERVING';
  /** The result of each check in the last run (for logs and tests). */
  readonly lastResults = new Map<string, boolean>();
  /** Why each failing check failed, when it said (for logs and tests). */
  readonly lastReasons = new Map<string, string>();

  constructor(private readonly options: HealthOptions) {
    this.implementation = new HealthImplementation({ '': 'NOT_SERVING', ...Object.fromEntries(options.services.map((s) => [s, 'NOT_SERVING'])) });
  }

  addToServer(server: grpc.Server): void {
    this.implementation.addToServer(server);
  }

  /** Runs the checks now and then every intervalMs. */
  async start(): Promise<void> {
    await this.runChecks();
    this.timer = setInterval(() => void this.runChecks(), this.options.intervalMs);
    this.timer.unref();
  }

  /** From now on NOT_SERVING: load balancers stop sending new work. */
  drain(): void {
    this.draining = true;
    this.setStatus('NOT_SERVING');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  private async runChecks(): Promise<void> {
    const entries = Object.entries(this.options.checks);
    const results = await Promise.all(entries.map(([, check]) => withTimeout(check(), this.options.checkTimeoutMs)));
    const oks = results.map((result) => (typeof result === 'boolean' ? result : result.ok));
    entries.forEach(([name], i) => {
      const ok = oks[i]!;
      const result = results[i]!;
      const reason = ok || typeof result === 'boolean' ? '' : result.reason;
      if (this.lastResults.get(name) !== ok || (this.lastReasons.get(name) ?? '') !== reason) {
        if (ok) this.options.logger.info({ check: name, ok }, 'readiness check passes');
        else this.options.logger.warn({ check: name, ok, reason }, reason ? `readiness check fails: ${reason}` : 'readiness check fails');
      }
      this.lastResults.set(name, ok);
      if (reason) this.lastReasons.set(name, reason);
      else this.lastReasons.delete(name);
    });
    this.setStatus(!this.draining && oks.every(Boolean) ? 'SERVING' : 'NOT_SERVING');
  }

  private setStatus(status: ServingStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.implementation.setStatus('', status);
    for (const service of this.options.services) this.implementation.setStatus(service, status);
  }
}

function withTimeout<T>(check: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    check.catch(() => false as const),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
