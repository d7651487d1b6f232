/**
 * Poisson client sampling (docs/PRIVACY.md, "Sampling"). A round with
 * sampling_rate q < 1 admits each client independently with probability q:
 * the gateway draws from its own CSPRNG, once per (round, client), and
 * remembers the draw in Redis so a retry, a reconnect or another gateway gets
 * the same answer. The keyholder accounts such rounds as the
 * Poisson-subsampled Gaussian (Mironov, Talwar, Zhang 2019), which is only
 * sound if the draw is independent of the data and of the client's wishes,
 * and if the sample is not otherwise revealed.
 *
 * The decisions are kept by the store (RoundStore.decideSampling: the first
 * draw wins a race between two gateways) until a day after the round's
 * deadline (the round is closed by then).
 */
import { randomBytes } from 'node:crypto';
import { refuse } from '@secagg/core';
import { samplingRateOf } from '@secagg/protocol';
import type { RoundRecord, RoundStore } from '@secagg/store';

/** How long the sampling decisions outlive the round's deadline, ms. */
const DECISIONS_RETAINED_AFTER_DEADLINE_MS = 24 * 3_600_000;

/** A uniform draw in [0, 1) with 53 random bits from the CSPRNG. */
export function cryptoUniform(): number {
  const bytes = randomBytes(8);
  const high = bytes.readUInt32BE(0) >>> 5; // 27 bits
  const low = bytes.readUInt32BE(4) >>> 6; // 26 bits
  return (high * 2 ** 26 + low) / 2 ** 53;
}

/**
 * Resolves if `clientId` is in the round's sample (always, for q = 1);
 * otherwise throws FAILED_PRECONDITION (reason `not_sampled`), the same
 * answer on every call.
 */
export async function admitSampledClient(
  store: Pick<RoundStore, 'decideSampling'>,
  round: RoundRecord,
  clientId: string,
  uniform: () => number = cryptoUniform,
): Promise<void> {
  const q = samplingRateOf(round.config);
  if (q >= 1) return;
  const draw = uniform() < q;
  const retainUntilMs = Number(round.config.deadlineUnixMs) + DECISIONS_RETAINED_AFTER_DEADLINE_MS;
  if (await store.decideSampling(round.roundId, clientId, draw, retainUntilMs)) return;
  throw refuse('not_sampled', `client ${clientId} was not sampled for round ${round.roundId} (Poisson sampling at rate ${q}); do not retry this round`);
}
