/**
 * The keyholder's Prometheus metrics beyond gRPC calls: round keys by status
 * and, per privacy group, epsilon spent and remaining. Computed from the store
 * when scraped, so they are always the ledger's own figures.
 */
import { Gauge } from 'prom-client';
import type { ServiceMetrics } from '@secagg/observability';
import type { KeyholderConfig } from '../config.js';
import type { KeyStore } from './key-store.js';
import { privacyBudgetMessage } from './privacy-budget.js';

export function registerKeyholderMetrics(metrics: ServiceMetrics, store: KeyStore, config: KeyholderConfig): void {
  new Gauge({
    name: 'secagg_round_keys',
    help: 'Round keys by status (ready: awaiting release; released; refused or consumed: never released)',
    labelNames: ['status'],
    registers: [metrics.registry],
    collect() {
      for (const [status, n] of Object.entries(store.roundKeyCounts())) this.set({ status }, n);
    },
  });
  const budgets = () => store.privacyGroups().map((group) => privacyBudgetMessage(store, config, group));
  new Gauge({
    name: 'secagg_privacy_epsilon_spent',
    help: 'Epsilon spent by each privacy group (RDP composition of its releases) at the group delta',
    labelNames: ['group'],
    registers: [metrics.registry],
    collect() {
      for (const b of budgets()) this.set({ group: b.privacyGroup }, b.epsilonSpent);
    },
  });
  new Gauge({
    name: 'secagg_privacy_epsilon_remaining',
    help: 'Epsilon each privacy group may still spend',
    labelNames: ['group'],
    registers: [metrics.registry],
    collect() {
      for (const b of budgets()) this.set({ group: b.privacyGroup }, b.epsilonRemaining);
    },
  });
}
