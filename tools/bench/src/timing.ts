/**
 * Rate measurement: run a unit of work repeatedly for at least a minimum
 * time and report units per second. Wall clock (performance.now), after one
 * warm-up call, so JIT compilation and first-touch allocation are not counted.
 */
import { spawnSync } from 'node:child_process';

/** Units per second of `work` (which returns the units it did), run for ≥ `minSeconds` after one warm-up call. */
export function rateOf(work: () => number, minSeconds: number): number {
  work();
  let units = 0;
  const start = performance.now();
  let now = start;
  do {
    units += work();
    now = performance.now();
  } while (now - start < minSeconds * 1_000);
  return units / ((now - start) / 1_000);
}

/** As {@link rateOf}, for asynchronous work; `warmUp` false skips the warm-up call (when one call is already long). */
export async function rateOfAsync(work: () => Promise<number>, minSeconds: number, warmUp = true): Promise<number> {
  if (warmUp) await work();
  let units = 0;
  const start = performance.now();
  let now = start;
  do {
    units += await work();
    now = performance.now();
  } while (now - start < minSeconds * 1_000);
  return units / ((now - start) / 1_000);
}

/** Seconds elapsed since `startMs` (a performance.now() reading). */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1_000;
}

/**
 * Lets the machine settle before a disk-sensitive measurement: flushes dirty
 * pages (a previous cluster's AOF writes would otherwise slow the next
 * Redis's fsyncs) and pauses briefly.
 */
export async function settle(ms = 1_000): Promise<void> {
  spawnSync('sync', { stdio: 'ignore', timeout: 60_000 });
  await sleep(ms);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
