/**
 * Kills (SIGKILL: no shutdown hook, no flush, no goodbye) one randomly chosen
 * process of a LocalCluster at a random moment, keeps it down for a random
 * while, restarts it on the same port (Redis: same port and data directory,
 * so it reloads its AOF), and repeats. One fault at a time: each restart has
 * completed before the next kill, so every fault is a single crash.
 *
 * Besides kills, a share of the faults are *scenarios* (issue 12): a fault
 * with its own script — e.g. kill the keyholder inside a release, freeze an
 * aggregator across one, make Redis refuse writes — given by the harness.
 * While a scenario runs, the processes it names may be down without counting
 * as having died on their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LocalCluster } from '@secagg/local-cluster';
import type { Prng } from './prng.js';

/** 'redis' is the cluster's private redis-server; anything else a service name of the cluster. */
export type FaultTarget = string;

export interface FaultRecord {
  index: number;
  target: FaultTarget;
  /** Wait before the kill, ms. */
  gapMs: number;
  /** Time between the kill and the restart, ms. */
  downMs: number;
  /** Time the restart took until the process was ready again, ms. */
  restartMs: number;
  /** Uploads in flight at the moment of the kill (as reported by `busy()`). */
  uploadsInFlight: number;
}

/** A fault with its own script; resolves once the cluster is whole again. */
export interface FaultScenario {
  name: string;
  /** Processes the scenario may kill or freeze ('redis' included). */
  touches: FaultTarget[];
  run(): Promise<void>;
}

export interface FaultInjectorOptions {
  targets: FaultTarget[];
  /** Scenarios, picked (uniformly) for a share `scenarioShare` of the faults. */
  scenarios?: FaultScenario[];
  scenarioShare?: number;
  /** Wait before each kill, uniform in [minGapMs, maxGapMs]. */
  minGapMs: number;
  maxGapMs: number;
  /** Downtime, uniform in [0, maxDownMs]. */
  maxDownMs: number;
  /** How many uploads are in flight right now (recorded with each fault). */
  busy?: () => number;
  /**
   * Probability that a kill, when its gap has passed and no upload is in
   * flight, waits (up to 2 s) for one to start and then strikes within 50 ms:
   * biases faults towards the middle of uploads, where crashes matter most.
   */
  preferBusy?: number;
  log?: (line: string) => void;
}

const RESTART_ATTEMPTS = 5;

export class FaultInjector {
  private done = 0;
  /** The targets being killed and restarted (or frozen) right now. */
  private injecting = new Set<FaultTarget>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  readonly records: FaultRecord[] = [];

  constructor(
    private readonly cluster: LocalCluster,
    private readonly rng: Prng,
    private readonly options: FaultInjectorOptions,
  ) {
    for (const target of options.targets) {
      if (target === 'redis' ? !cluster.privateRedis : !cluster.processNames().includes(target)) {
        throw new Error(`cannot inject faults into ${target}: not part of this cluster`);
      }
    }
  }

  /** Faults completed (killed and restarted). */
  get faultsDone(): number {
    return this.done;
  }

  /** Resolves once `count` faults have completed. */
  whenDone(count: number): Promise<void> {
    if (this.done >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /**
   * Processes that are down although no fault is being injected into them:
   * a service (or Redis) that died on its own — a bug the chaos run exposes.
   */
  deadProcesses(): string[] {
    const dead = this.cluster.processNames().filter((name) => !this.injecting.has(name) && !this.cluster.isRunning(name));
    const redis = this.cluster.privateRedis?.process;
    if (redis && !this.injecting.has('redis') && (redis.exitCode !== null || redis.signalCode !== null)) dead.push('redis');
    return dead;
  }

  /** Throws if a process died on its own (see {@link deadProcesses}). */
  assertAlive(): void {
    const dead = this.deadProcesses();
    if (dead.length > 0) throw new Error(`${dead.join(', ')} exited on its own (not a fault injected by this run); see the service logs`);
  }

  /** Injects `count` faults, one after another. */
  async run(count: number): Promise<FaultRecord[]> {
    const { targets, minGapMs, maxGapMs, maxDownMs } = this.options;
    for (let index = 0; index < count; index++) {
      this.assertAlive();
      const gapMs = this.rng.int(minGapMs, maxGapMs);
      const scenarios = this.options.scenarios ?? [];
      const scenario = scenarios.length > 0 && this.rng.next() < (this.options.scenarioShare ?? 0) ? this.rng.pick(scenarios) : undefined;
      const target = this.rng.pick(targets);
      const downMs = this.rng.int(0, maxDownMs);
      const waitForUpload = this.rng.next() < (this.options.preferBusy ?? 0);
      const strikeMs = this.rng.int(0, 50);
      await sleep(gapMs);
      if (waitForUpload && this.options.busy) {
        const until = performance.now() + 2_000;
        while (this.options.busy() === 0 && performance.now() < until) await sleep(5);
        await sleep(strikeMs);
      }
      const uploadsInFlight = this.options.busy?.() ?? 0;
      this.assertAlive();
      let record: FaultRecord;
      if (scenario) {
        for (const touched of scenario.touches) this.injecting.add(touched);
        const started = performance.now();
        await scenario.run();
        this.injecting.clear();
        record = { index, target: scenario.name, gapMs, downMs: 0, restartMs: Math.round(performance.now() - started), uploadsInFlight };
        this.options.log?.(`fault ${index + 1}/${count}: ${scenario.name} (after ${gapMs} ms, ${uploadsInFlight} uploads in flight), took ${record.restartMs} ms`);
      } else {
        this.injecting.add(target);
        await this.kill(target);
        await sleep(downMs);
        const started = performance.now();
        await this.restart(target);
        this.injecting.clear();
        record = { index, target, gapMs, downMs, restartMs: Math.round(performance.now() - started), uploadsInFlight };
        this.options.log?.(
          `fault ${index + 1}/${count}: SIGKILL ${target} (after ${gapMs} ms, ${uploadsInFlight} uploads in flight), down ${downMs} ms, back in ${record.restartMs} ms`,
        );
      }
      this.records.push(record);
      this.done++;
      for (const waiter of this.waiters.filter((w) => w.count <= this.done)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
    return this.records;
  }

  /** SIGKILL (Redis: its private server) and wait for the exit. */
  async kill(target: FaultTarget): Promise<void> {
    if (target === 'redis') await this.cluster.privateRedis!.kill();
    else await this.cluster.kill(target, 'SIGKILL');
  }

  /** Restarts a killed target (a few attempts: a port may linger). */
  async restart(target: FaultTarget): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (target === 'redis') await this.cluster.privateRedis!.restart();
        else await this.cluster.restart(target);
        return;
      } catch (error) {
        if (attempt >= RESTART_ATTEMPTS) throw new Error(`could not restart ${target}: ${(error as Error).message}`, { cause: error });
        this.options.log?.(`restart of ${target} failed (${(error as Error).message}); trying again`);
        await sleep(500);
      }
    }
  }
}
