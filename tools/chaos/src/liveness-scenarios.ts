/**
 * Liveness scenarios for the chaos harness (issue 12): faults that leave a
 * round stuck or wasted rather than corrupt, each a script around a small
 * side round of its own, so that releases happen *during* the fault schedule:
 *
 *  - keyholder-kill-in-release: SIGKILL of the keyholder while a round releases;
 *  - aggregator-freeze-in-release: SIGSTOP of an aggregator while a round
 *    releases, for longer than its job lock (another aggregator takes the
 *    finalize over: two releases of one round), then SIGCONT;
 *  - keyholder-long-outage: the keyholder down across many retries of a finalize
 *    (longer than the old retry horizon at the harness's retry settings);
 *  - gateway-kill-on-closing-commit: the gateway dies right after the commit
 *    that reached max_clients, before queueing anything;
 *  - aggregator-clock-skew: an aggregator restarted with its clock minutes off,
 *    plus a round that must close at its deadline (by Redis's clock);
 *  - redis-refuses-writes: Redis at its maxmemory, or requiring a replica it does
 *    not have, for a few seconds.
 *
 * Every side round must end RELEASED with exactly its acknowledged updates.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { LocalCluster } from '@secagg/local-cluster';
import { withCoordinator } from './coordinator.js';
import type { FaultInjector, FaultScenario } from './fault-injector.js';
import type { Prng } from './prng.js';
import { runSimulatedClient, type ClientOutcome } from './simulated-client.js';

export const LIVENESS_SCENARIOS = [
  'keyholder-kill-in-release',
  'aggregator-freeze-in-release',
  'keyholder-long-outage',
  'gateway-kill-on-closing-commit',
  'aggregator-clock-skew',
  'redis-refuses-writes',
] as const;
export type LivenessScenario = (typeof LIVENESS_SCENARIOS)[number];

export interface SideRound {
  roundId: string;
  scenario: LivenessScenario;
  clients: Promise<ClientOutcome[]>;
}

export interface LivenessSettings {
  /** Values per side-round update. */
  length: number;
  /** How long an aggregator stays frozen: longer than its job lock plus a stalled check, ms. */
  freezeMs: number;
  /** Keyholder downtime of the long outage, ms. */
  longOutageMs: number;
  log: (line: string) => void;
}

/** Side rounds and the scenarios that create them. */
export class SideRounds {
  readonly rounds: SideRound[] = [];
  private serial = 0;
  private readonly redis: Redis;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly rng: Prng,
    private readonly settings: LivenessSettings,
  ) {
    // The harness's own connection, for CONFIG SET: it must outlive Redis being killed.
    this.redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 5 });
    this.redis.on('error', () => {});
  }

  close(): void {
    this.redis.disconnect();
  }

  /** The scenarios named, bound to `injector` (which kills and restarts for them). */
  scenarios(names: readonly LivenessScenario[], injector: () => FaultInjector): FaultScenario[] {
    const aggregators = this.cluster.processNames().filter((name) => name.startsWith('aggregator'));
    const all: Record<LivenessScenario, FaultScenario> = {
      'keyholder-kill-in-release': {
        name: 'keyholder-kill-in-release',
        touches: ['keyholder'],
        run: async () => {
          const roundId = await this.openAndFill('keyholder-kill-in-release');
          // Strike once an aggregator asks for the release, within the time a small release takes.
          await this.releaseRequested(roundId);
          await sleep(this.rng.int(0, 200));
          await injector().kill('keyholder');
          await sleep(this.rng.int(0, 1_000));
          await injector().restart('keyholder');
        },
      },
      'aggregator-freeze-in-release': {
        name: 'aggregator-freeze-in-release',
        touches: aggregators,
        run: async () => {
          const roundId = await this.openAndFill('aggregator-freeze-in-release');
          // Freeze the aggregator that is releasing (when seen in time; else any), mid-release.
          const releasing = await this.releaseRequested(roundId);
          await sleep(this.rng.int(0, 200));
          const frozen = releasing ?? this.rng.pick(aggregators);
          this.cluster.signal(frozen, 'SIGSTOP');
          try {
            await sleep(this.settings.freezeMs);
          } finally {
            this.cluster.signal(frozen, 'SIGCONT');
          }
        },
      },
      'keyholder-long-outage': {
        name: 'keyholder-long-outage',
        touches: ['keyholder'],
        run: async () => {
          // The round is created (that needs the keyholder) and half filled first; the closing commit
          // then lands while the keyholder is down, and its finalize retries across the whole outage.
          let down = false;
          try {
            await this.openAndFill('keyholder-long-outage', async () => {
              await injector().kill('keyholder');
              down = true;
            });
            await sleep(this.settings.longOutageMs);
          } finally {
            if (down) await injector().restart('keyholder');
          }
        },
      },
      'gateway-kill-on-closing-commit': {
        name: 'gateway-kill-on-closing-commit',
        touches: ['client-gateway'],
        run: async () => {
          const roundId = await this.open('gateway-kill-on-closing-commit', { clients: 2 });
          const first = await this.submit(roundId, 0);
          await this.cluster.restart('client-gateway', { GATEWAY_TEST_KILL_AFTER_CLOSING_COMMIT: 'true' });
          const second = this.submit(roundId, 1);
          const until = Date.now() + 60_000;
          while (this.cluster.isRunning('client-gateway') && Date.now() < until) await sleep(20);
          await this.cluster.restart('client-gateway', { GATEWAY_TEST_KILL_AFTER_CLOSING_COMMIT: undefined });
          this.track(roundId, 'gateway-kill-on-closing-commit', Promise.all([Promise.resolve(first), second]));
        },
      },
      'aggregator-clock-skew': {
        name: 'aggregator-clock-skew',
        touches: aggregators,
        run: async () => {
          const skewed = this.rng.pick(aggregators);
          const offsetMs = this.rng.pick([-10, -5, -1, 0, 1, 5, 10]) * 60_000;
          await this.cluster.restart(skewed, { AGGREGATOR_TEST_CLOCK_OFFSET_MS: String(offsetMs) });
          this.settings.log(`${skewed} now runs ${offsetMs / 60_000} min off`);
          // A round that closes at its deadline, not at max clients: only Redis's clock may decide when.
          const roundId = await this.open('aggregator-clock-skew', { clients: 3, maxClients: 4, deadlineInMs: 20_000 });
          this.track(roundId, 'aggregator-clock-skew', Promise.all([0, 1, 2].map((i) => this.submit(roundId, i))));
        },
      },
      'redis-refuses-writes': {
        name: 'redis-refuses-writes',
        touches: [],
        run: async () => {
          const memory = this.rng.next() < 0.5;
          if (memory) {
            const used = Number(/used_memory:(\d+)/.exec(await this.redis.info('memory'))?.[1] ?? 0);
            await this.redis.config('SET', 'maxmemory', String(used + 64 * 1024));
          } else {
            await this.redis.config('SET', 'min-replicas-to-write', '1');
          }
          try {
            await sleep(this.rng.int(500, 3_000));
          } finally {
            await this.redis.config('SET', memory ? 'maxmemory' : 'min-replicas-to-write', '0');
          }
        },
      },
    };
    return names.map((name) => all[name]);
  }

  /**
   * A side round of two clients (max two: the second commit closes it and
   * starts the release), both acknowledged; `between` runs after the first receipt.
   */
  private async openAndFill(scenario: LivenessScenario, between?: () => Promise<void>): Promise<string> {
    const roundId = await this.open(scenario, { clients: 2 });
    const first = this.submit(roundId, 0);
    const clients = (async () => {
      const one = await first;
      await between?.();
      return [one, await this.submit(roundId, 1)];
    })();
    this.track(roundId, scenario, clients);
    await clients;
    return roundId;
  }

  /** The aggregator that logged asking the keyholder for this round's release, once one does (undefined after 10 s). */
  private async releaseRequested(roundId: string): Promise<string | undefined> {
    const until = Date.now() + 10_000;
    const aggregators = this.cluster.processNames().filter((name) => name.startsWith('aggregator'));
    while (Date.now() < until) {
      for (const name of aggregators) {
        if (this.cluster.logLines(name).some((line) => line.includes(roundId) && line.includes('requesting the release'))) return name;
      }
      await sleep(5);
    }
    return undefined;
  }

  private async open(scenario: LivenessScenario, config: { clients: number; maxClients?: number; deadlineInMs?: number }): Promise<string> {
    const round = await withCoordinator(this.cluster, (coordinator) =>
      coordinator.createRound({
        vectorLength: this.settings.length,
        minClients: 1,
        maxClients: config.maxClients ?? config.clients,
        deadlineUnixMs: BigInt(Date.now() + (config.deadlineInMs ?? 3_600_000)),
        clipNorm: 1,
        noiseMultiplier: 0,
        unsafeDisableNoise: true,
      }),
    );
    this.settings.log(`side round ${round.roundId} (${scenario})`);
    return round.roundId;
  }

  private track(roundId: string, scenario: LivenessScenario, clients: Promise<ClientOutcome[]>): void {
    clients.catch(() => {});
    this.rounds.push({ roundId, scenario, clients });
  }

  private submit(roundId: string, i: number): Promise<ClientOutcome> {
    const serial = this.serial++;
    const values = new Float64Array(this.settings.length);
    for (let j = 0; j < values.length; j++) values[j] = this.rng.uniform(-1, 1) / Math.sqrt(values.length);
    return runSimulatedClient({
      cluster: this.cluster,
      roundId,
      subject: `side-client-${serial}`,
      updateId: `side-${roundId}-${i}`,
      values,
      giveUpAtMs: Date.now() + 600_000,
      rng: this.rng.fork(),
    });
  }
}
