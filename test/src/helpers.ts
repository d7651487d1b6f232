/** Shared helpers of the cross-service tests. */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import { RoundState, SubmitUpdateRequestSchema, type Round, type SubmitUpdateRequest } from '@secagg/proto';
import type { LocalCluster } from '@secagg/local-cluster';
import { clipToNorm, type SecaggClient, type SubmitResult } from '@secagg/sdk';

/** The `secagg` CLI's entry script, found as the package resolves it (the file `npx secagg` runs). */
export const SECAGG_CLI = fileURLToPath(import.meta.resolve('@secagg/cli'));

/** Options of `LocalCluster.client`: retry settings, pinned keyholder keys. */
export type ClientOptions = Parameters<LocalCluster['client']>[2];

/** Runs `use` with a fresh client-role SDK client of `cluster` for `subject`, closed however `use` ends. */
export async function asClient<T>(cluster: LocalCluster, subject: string, use: (client: SecaggClient) => Promise<T>, options?: ClientOptions): Promise<T> {
  const client = await cluster.client('client', subject, options);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * Submits `updates[i]` as client `${tag}-client-${i}`, all at once (or one
 * after another with `sequential`, when the order matters to the test).
 * `updateId(i)` names the updates; the SDK picks random ids without it.
 */
export async function submitEach(
  cluster: LocalCluster,
  roundId: string,
  tag: string,
  updates: readonly Float64Array[],
  options: { sequential?: boolean; updateId?: (index: number) => string } = {},
): Promise<SubmitResult[]> {
  const submitOne = (update: Float64Array, i: number) =>
    asClient(cluster, `${tag}-client-${i}`, (client) => client.submitUpdate(roundId, update, { updateId: options.updateId?.(i) }));
  if (!options.sequential) return Promise.all(updates.map(submitOne));
  const results: SubmitResult[] = [];
  for (const [i, update] of updates.entries()) results.push(await submitOne(update, i));
  return results;
}

/** Deterministic pseudo-random update with L2 norm about `norm`. */
export function makeUpdate(length: number, seed: number, norm: number): Float64Array {
  const values = new Float64Array(length);
  let state = (seed * 2654435761) % 2 ** 31 || 1;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    values[i] = ((state / 2 ** 31) * 2 - 1) * norm * Math.sqrt(3 / length);
  }
  return values;
}

/** The float64 sum of the clipped updates: what a noise-free release must equal. */
export function clippedSum(updates: Float64Array[], clipNorm: number): Float64Array {
  const sum = new Float64Array(updates[0]!.length);
  for (const u of updates) {
    const clipped = clipToNorm(u, clipNorm).values;
    for (let i = 0; i < sum.length; i++) sum[i]! += clipped[i]!;
  }
  return sum;
}

export function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const FINAL = [RoundState.RELEASED, RoundState.FAILED];

/** Polls until the round is RELEASED or FAILED (or `timeoutMs` passes). */
export async function waitForEnd(coordinator: SecaggClient, roundId: string, timeoutMs = 60_000): Promise<Round> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const round = await coordinator.getRoundStatus(roundId);
    if (FINAL.includes(round.state)) return round;
    if (Date.now() > deadline) throw new Error(`round ${roundId} still ${RoundState[round.state]} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const inMinutes = (minutes: number) => BigInt(Date.now() + minutes * 60_000);

/** A whole upload stream as a client sends it: header, the chunks in order, a trailer with their SHA-256. */
export function uploadFrames(roundId: string, updateId: string, vectorLength: number, ciphertexts: readonly Uint8Array[]): SubmitUpdateRequest[] {
  const digest = createHash('sha256');
  const frames = [create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId, updateId, vectorLength, ciphertextCount: ciphertexts.length } } })];
  ciphertexts.forEach((ciphertext, index) => {
    digest.update(ciphertext);
    frames.push(create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } }));
  });
  frames.push(create(SubmitUpdateRequestSchema, { frame: { case: 'trailer', value: { sha256: digest.digest() } } }));
  return frames;
}

/** The Prometheus text a service's /metrics listener on `port` serves now. */
export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Sum of the samples of `name` in Prometheus `text` whose labels include every `labels` pair. */
export function metricSample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
