/**
 * Prints the PLD-vs-RDP table of docs/PRIVACY.md ("Accountants"): ε at
 * δ = 1e-5 of T rounds of the sampled Gaussian by both accountants, and the
 * CPU time of each PLD query (a measurement, not a test).
 *
 * Run: `npm run -s build && node tools/bench/dist/pld-table.js`
 *
 * @module
 */

import { computeEpsilon, computeEpsilonPld } from '@secagg/dp';

const DELTA = 1e-5;

function cpuMs(f: () => void): number {
  const start = process.cpuUsage();
  f();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(2) : x.toFixed(3));

console.log(`| q | z | T | ε RDP | ε PLD | PLD / RDP | PLD query, CPU ms |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const q of [1, 0.1, 0.01]) {
  for (const z of [0.8, 1.1, 2]) {
    for (const steps of [10, 100, 1000]) {
      const rounds = [{ samplingRate: q, noiseMultiplier: z, steps }];
      const rdp = computeEpsilon(rounds, DELTA).epsilon;
      let pld = NaN;
      const ms = cpuMs(() => {
        pld = computeEpsilonPld(rounds, DELTA).epsilon;
      });
      console.log(`| ${q} | ${z} | ${steps} | ${fmt(rdp)} | ${fmt(pld)} | ${(pld / rdp).toFixed(3)} | ${ms.toFixed(0)} |`);
    }
  }
}
