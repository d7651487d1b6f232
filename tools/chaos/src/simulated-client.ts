/**
 * A simulated federated client that behaves as a real one should: it submits
 * its update with the SDK (which retries transient failures with the same
 * update id), and when a call still fails with a transient error it waits
 * (the server's retry hint, else exponential backoff) and submits the same
 * update id again, until it holds a receipt, gets a permanent refusal, or
 * gives up at `giveUpAtMs`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, codeName, isSecaggError } from '@secagg/core';
import type { LocalCluster } from '@secagg/local-cluster';
import type { Receipt } from '@secagg/proto';
import { SecaggClient } from '@secagg/sdk';
import type { Prng } from './prng.js';

/** Refusals a retry cannot change. */
const PERMANENT = [Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated, Code.AlreadyExists, Code.FailedPrecondition, Code.NotFound];

export interface SimulatedClientOptions {
  cluster: LocalCluster;
  roundId: string;
  subject: string;
  updateId: string;
  values: Float64Array;
  /** Attempts inside one SDK call (the SDK's own retry loop); 1 = every refusal comes back here. */
  sdkMaxAttempts?: number;
  /** Stop retrying after this time (ms since the epoch). */
  giveUpAtMs: number;
  /** Jitter of the backoff. */
  rng: Prng;
  /**
   * A new channel (connection) for every submission — after a gateway crash a
   * reused channel may sit in reconnect backoff — or one channel for all of
   * them, as a device would (default true).
   */
  freshChannelPerSubmission?: boolean;
  /** Called when an upload starts (true) and ends (false), for "uploads in flight" accounting. */
  onUploading?: (active: boolean) => void;
}

export interface ClientOutcome {
  subject: string;
  updateId: string;
  receipt: Receipt | undefined;
  /** Submissions made by this harness (each one an SDK call with its own retries). */
  submissions: number;
  /** Errors that reached this harness, by gRPC code name. */
  errors: Record<string, number>;
  /** RESOURCE_EXHAUSTED answers seen (with sdkMaxAttempts 1: every one the gateway sent). */
  toldToRetry: number;
  /** The RESOURCE_EXHAUSTED messages, digits masked, with their counts (which bound refused the upload). */
  refusals: Record<string, number>;
  /** The permanent refusal or last error, when no receipt was obtained. */
  failure: string | undefined;
}

export async function runSimulatedClient(options: SimulatedClientOptions): Promise<ClientOutcome> {
  const { cluster, subject, updateId } = options;
  const outcome: ClientOutcome = { subject, updateId, receipt: undefined, submissions: 0, errors: {}, toldToRetry: 0, refusals: {}, failure: undefined };
  const fresh = options.freshChannelPerSubmission ?? true;
  const connect = async () =>
    new SecaggClient({
      address: cluster.gatewayAddress,
      token: await cluster.token('client', subject),
      caFile: cluster.certificates?.caFile,
      insecure: cluster.certificates === undefined,
      maxAttempts: options.sdkMaxAttempts ?? 8,
      encryptionThreads: 0,
      keyholderKeys: cluster.keyholderVerificationKeyPems,
    });
  const shared = fresh ? undefined : await connect();
  try {
    return await submitUntilSettled(options, outcome, async () => shared ?? (await connect()), fresh);
  } finally {
    shared?.close();
  }
}

async function submitUntilSettled(
  options: SimulatedClientOptions,
  outcome: ClientOutcome,
  channel: () => Promise<SecaggClient>,
  closeAfterEach: boolean,
): Promise<ClientOutcome> {
  const { roundId, updateId, values, rng } = options;
  for (let failures = 0; ; failures++) {
    outcome.submissions++;
    const client = await channel();
    options.onUploading?.(true);
    try {
      const result = await client.submitUpdate(roundId, values, { updateId });
      if (result.receipt.updateId !== updateId) throw new Error(`receipt for ${result.receipt.updateId}, expected ${updateId}`);
      outcome.receipt = result.receipt;
      outcome.failure = undefined;
      return outcome;
    } catch (error) {
      const code = isSecaggError(error) ? codeName(error.code) : (error as Error)?.name ?? 'Error';
      outcome.errors[code] = (outcome.errors[code] ?? 0) + 1;
      if (isSecaggError(error, Code.ResourceExhausted)) {
        outcome.toldToRetry++;
        const reason = error.message.replace(/\d+/g, 'N');
        outcome.refusals[reason] = (outcome.refusals[reason] ?? 0) + 1;
      }
      outcome.failure = `${code}: ${(error as Error)?.message}`;
      if (isSecaggError(error, ...PERMANENT)) return outcome;
      const hint = isSecaggError(error) ? error.retryAfterMs : undefined;
      const backoff = hint ?? Math.min(5_000, 200 * 2 ** Math.min(failures, 5));
      const wait = backoff * rng.uniform(0.5, 1);
      if (Date.now() + wait > options.giveUpAtMs) return outcome;
      await sleep(wait);
    } finally {
      options.onUploading?.(false);
      if (closeAfterEach) client.close();
    }
  }
}
