/**
 * Peak resident memory of processes, from Linux's /proc/<pid>/status.
 * VmHWM is the kernel's high-water mark of the resident set since the process
 * started, so one read just before a process exits gives its true peak — no
 * sampling interval can miss a short spike.
 */
import { readFileSync } from 'node:fs';

/** Peak RSS (VmHWM) of `pid` in bytes, or undefined when unavailable (process gone, not Linux). */
export function peakRssBytes(pid: number | 'self'): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Current RSS (VmRSS) of `pid` in bytes, or undefined when unavailable. */
export function currentRssBytes(pid: number | 'self'): number | undefined {
  return statusField(pid, 'VmRSS');
}

function statusField(pid: number | 'self', field: string): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}
