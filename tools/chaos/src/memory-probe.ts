/**
 * Memory of running processes and of Redis, as the kernel and Redis report
 * it: VmRSS / VmHWM (peak resident set) from /proc/<pid>/status, and Redis's
 * own `used_memory` / `used_memory_peak` (bytes its allocator holds for data,
 * buffers and overhead).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { StagingBudget } from '@secagg/store';

export interface ProcessMemory {
  /** Resident set now, bytes. */
  rssBytes: number;
  /** Peak resident set since the process started (VmHWM), bytes. */
  peakRssBytes: number;
}

/** Reads /proc/<pid>/status; undefined when the process is gone (or not on Linux). */
export function processMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

export interface RedisMemory {
  usedMemory: number;
  usedMemoryPeak: number;
}

export async function redisMemory(url: string): Promise<RedisMemory> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info('memory');
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    return { usedMemory: field('used_memory'), usedMemoryPeak: field('used_memory_peak') };
  } finally {
    redis.disconnect();
  }
}

/** Samples a value every `intervalMs` and keeps its maximum until stopped. */
export class PeakSampler {
  private peak = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly sample: () => Promise<number | undefined> | number | undefined, private readonly intervalMs: number) {}

  start(): this {
    this.timer = setInterval(() => void this.take(), this.intervalMs);
    return this;
  }

  /** Stops sampling (after one last sample) and returns the maximum seen. */
  async stop(): Promise<number> {
    clearInterval(this.timer);
    await this.take();
    return this.peak;
  }

  get max(): number {
    return this.peak;
  }

  private async take(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const value = await this.sample();
      if (value !== undefined && Number.isFinite(value)) this.peak = Math.max(this.peak, value);
    } catch {
      // A missed sample is not a measurement.
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Bytes reserved by uploads in progress, cluster-wide: the gateways'
 * staged-bytes budget as the store keeps it (the harnesses read it to watch
 * the bound at work).
 */
export async function stagedBytes(redis: Redis, keyPrefix: string): Promise<number> {
  return new StagingBudget(redis, keyPrefix).reservedBytes();
}

export const MiB = 1024 * 1024;
export const toMiB = (bytes: number) => (bytes / MiB).toFixed(1);
