/**
 * Coordinator calls that survive the faults the harnesses inject: each call
 * runs on a fresh SDK client (a channel that saw its gateway die may be in
 * reconnect backoff) and is retried while the cluster answers with a
 * transient status. Only idempotent calls go through here (close, status,
 * result); round creation happens before any fault.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, isSecaggError } from '@secagg/core';
import type { LocalCluster } from '@secagg/local-cluster';
import { RoundState, type Round } from '@secagg/proto';
import type { RoundResult, SecaggClient } from '@secagg/sdk';

/**
 * The coordinator the harnesses create rounds as and close them as: only a
 * round's owner may close it (docs/SECURITY.md "Ownership").
 */
export const HARNESS_COORDINATOR = 'harness-coordinator';

const TRANSIENT = [Code.Unavailable, Code.ResourceExhausted, Code.Aborted, Code.DeadlineExceeded, Code.Internal, Code.Unknown, Code.Cancelled];

export async function withCoordinator<T>(cluster: LocalCluster, call: (coordinator: SecaggClient) => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const coordinator = await cluster.client('coordinator', HARNESS_COORDINATOR);
    try {
      return await call(coordinator);
    } catch (error) {
      if (!isSecaggError(error, ...TRANSIENT) || Date.now() > deadline) throw error;
      await sleep(250);
    } finally {
      coordinator.close();
    }
  }
}

export const closeRound = (cluster: LocalCluster, roundId: string): Promise<Round> => withCoordinator(cluster, (c) => c.closeRound(roundId));

export const roundStatus = (cluster: LocalCluster, roundId: string): Promise<Round> => withCoordinator(cluster, (c) => c.getRoundStatus(roundId));

export const roundResult = (cluster: LocalCluster, roundId: string): Promise<RoundResult> => withCoordinator(cluster, (c) => c.getResult(roundId));

/** Polls until the round is RELEASED or FAILED; throws after `timeoutMs`. */
export async function waitForRoundEnd(cluster: LocalCluster, roundId: string, timeoutMs: number): Promise<Round> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const round = await roundStatus(cluster, roundId);
    if (round.state === RoundState.RELEASED || round.state === RoundState.FAILED) return round;
    if (Date.now() > deadline) {
      throw new Error(`round ${roundId} still ${RoundState[round.state]} after ${timeoutMs} ms (committed ${round.committedCount}, folded ${round.foldedCount})`);
    }
    await sleep(200);
  }
}
