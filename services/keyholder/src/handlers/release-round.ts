/**
 * ReleaseRound: the only path by which anything decrypted leaves the keyholder.
 *
 * Order (domain/release-policy.ts holds the rules; this is orchestration):
 *  1. header: the round has a key. If its release is already recorded, the
 *     same contributors get the stored release again, and a refused round
 *     the same fixed refusal (no second decryption, no second charge).
 *  2. admission by the header and the round's configuration only: count
 *     >= max(min_clients, the operator's floor), <= max_clients, ciphertext
 *     count; the privacy group's budget affords the release.
 *  3. every ciphertext of the sum arrives and passes validation; each is
 *     written to a spool file as it arrives (domain/release-spool.ts), its
 *     SHA-256 taken on the way, so memory holds one ciphertext, not the sum.
 *     From here to step 6 nothing awaits.
 *  4. CHARGE: in one durable transaction the budget is re-checked against the
 *     ledger, the ledger is charged and the key is bound to (contributors
 *     digest, sum digest). Every decryption is charged, whatever follows.
 *     A key already charged for the same digests (a crash or a lost answer
 *     after an earlier charge) is resumed without a second charge.
 *  5. decrypt the spool into one vector; quantize and add discrete Gaussian
 *     noise sigma = z * C in place (the noise-free values are overwritten,
 *     never copied); only then the range check, on the NOISED sum
 *     (per value and L2, bounds that allow for the noise). A vote round
 *     applies its mechanism here instead (domain/vote-release.ts): noise on
 *     the top counts and on every count, the range check on the noised
 *     counts, then labels computed from the noised counts only.
 *  6. record the outcome in one durable transaction that also destroys the
 *     key: the release, or a refusal with a fixed reason; then stream the
 *     release, or answer the fixed refusal.
 * A crash before 4 charges nothing and the aggregator's retry starts afresh;
 * between 4 and 6 the key is still stored and bound to this very sum, so the
 * retry (same digests) completes the same release under the same single
 * charge; after 6 a retry gets the stored outcome. Budget is never
 * under-counted. A spool file left by a crash is deleted at the next start.
 *
 * Concurrent calls for one round (an aggregator frozen mid-release, another
 * taking over) need no lock: steps 4-6 run without awaiting, so one call
 * records the outcome and the other, re-reading the key after its own
 * receive, serves that stored outcome.
 *
 * Memory: one ciphertext while receiving; then one Float64Array of
 * vector_length (decrypted, noised, range-checked and stored in place; the
 * store binds a byte view of it, the response frames are views of runs).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timingSafeEqual } from 'node:crypto';
import { refuse } from '@secagg/core';
import { validateCiphertext, type CiphertextFormat, type CkksEngine } from '@secagg/ckks';
import { bytesToFloat64, checkRoundId, privacyGroupOf, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  ReleaseRoundResponseSchema,
  ResultHeaderSchema,
  RoundConfigSchema,
  type ReleaseHeader,
  type ReleaseRoundRequest,
  type ReleaseRoundResponse,
  type ReleaseShareRequest,
  type ResultHeader,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import type { RoundKeyRow } from '../domain/key-store.js';
import { applyNoiseInPlace } from '../domain/noise.js';
import { applyVoteMechanism, type VoteOutcome } from '../domain/vote-release.js';
import { ReleaseSpool, releaseSpoolDir } from '../domain/release-spool.js';
import { planRoundPrivacy } from '../domain/privacy-plan.js';
import { budgetOf, requireAffordable, type Affordability } from '../domain/privacy-budget.js';
import { requireSingleKeyholder } from '../domain/threshold.js';
import { admitRelease, isReleaseRefusal, noisedRangeBounds, refusal, withinRange } from '../domain/release-policy.js';

export async function* releaseRound(
  requests: AsyncIterable<ReleaseRoundRequest>,
  deps: KeyholderContext,
): AsyncGenerator<ReleaseRoundResponse> {
  const { store, engines, sealer, logger, clock } = deps;
  const input = requests[Symbol.asyncIterator]();
  const first = await input.next();
  if (first.done || first.value.frame.case !== 'header') {
    throw refuse('bad_framing', 'the first frame must be the release header');
  }
  const header = first.value.frame.value;
  const roundId = checkRoundId(header.roundId);
  const key = store.getRoundKey(roundId);
  if (!key) throw refuse('no_round_key', `no key for round ${roundId}`);
  const outcome = recordedOutcome(key, header, deps);
  if (outcome) {
    yield* outcome;
    return;
  }

  const config = fromBinary(RoundConfigSchema, key.config);
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  requireSingleKeyholder(config, deps.config);
  admitRelease(config, header, ckks.ciphertextCount, deps.config);
  const noiseFree = config.unsafeDisableNoise;
  const params = toCkksParams(ckks);
  const plan = planRoundPrivacy(config, params, deps.config.adjacency);
  const budget = budgetOf(store, deps.config, privacyGroupOf(config));
  // Noise-free (test-only) releases are not budgeted: they are charged epsilon = +Infinity.
  const affordable = (ledger = store.ledger(budget.privacyGroup)): Affordability =>
    noiseFree
      ? { roundEpsilon: Infinity, groupEpsilonBefore: NaN, groupEpsilonAfter: Infinity }
      : requireAffordable(budget, ledger, plan, roundId);
  // A round already charged (resumed release) is not re-checked: its charge is in the ledger.
  if (key.status === 'ready') affordable();

  const engine = await engines.get(params);
  const spool = ReleaseSpool.create(releaseSpoolDir(deps.config), roundId, engine.format.byteLength);
  let sum: Float64Array;
  let cost: Affordability;
  try {
    await receiveCiphertexts(input, engine.format, ckks.ciphertextCount, spool);
    // Another call may have recorded this round's outcome while this one received.
    const now = store.getRoundKey(roundId)!;
    const late = recordedOutcome(now, header, deps);
    if (late) {
      yield* late;
      return;
    }
    // From here to the recorded outcome nothing awaits: no other call of this process can slip in between.
    cost = now.status === 'charged' ? chargedCost(now, budget.privacyGroup, deps) : affordable();
    const claim = { contributorsSha256: header.contributorsSha256, sumSha256: spool.digest() };
    const sealed = store.chargeRelease(
      roundId,
      claim,
      {
        privacyGroup: budget.privacyGroup,
        roundId,
        noiseMultiplier: plan.accountingNoiseMultiplier,
        samplingRate: plan.samplingRate,
        epsilon: cost.roundEpsilon,
        delta: budget.delta,
        chargedMs: clock(),
      },
      (ledger) => void affordable(ledger),
    );
    if (!sealed) throw refusal('claimed_by_other_sum');
    if (now.status === 'ready') deps.afterCharge?.(roundId); // a fresh charge only: the resumed attempt must get through
    sum = decryptSpool(engine, sealer.unseal(sealed, roundId), spool, config.vectorLength, ckks.valuesPerCiphertext);
  } finally {
    spool.discard();
  }

  // The noise goes on before anything looks at the values: every decision below is post-processing of the DP release.
  let votes: VoteOutcome | undefined;
  if (plan.votes) {
    // Vote rounds: the mechanism noises, range-checks the noised counts and post-processes them, in place (vote-release.ts).
    votes = applyVoteMechanism(sum, plan.votes, header.contributionCount, plan.decryptionErrorBound);
    if (!votes) {
      store.recordRefusal(roundId, 'votes_out_of_range');
      logger.warn({ roundId, reason: 'votes_out_of_range' }, 'release refused: the noised vote histogram is out of range (charged)');
      throw refusal('votes_out_of_range');
    }
  } else {
    applyNoiseInPlace(sum, plan.noise);
    const bounds = noisedRangeBounds(header.contributionCount, config.clipNorm, config.vectorLength, plan.noise.sigma, plan.noise.gridStep, plan.decryptionErrorBound);
    if (!withinRange(sum, bounds)) {
      sum.fill(0);
      store.recordRefusal(roundId, 'out_of_range');
      logger.warn({ roundId, reason: 'out_of_range' }, 'release refused: the noised sum is out of range (charged)');
      throw refusal('out_of_range');
    }
  }

  const result = create(ResultHeaderSchema, {
    roundId,
    contributionCount: header.contributionCount,
    vectorLength: config.vectorLength,
    noiseSigma: plan.noise.sigma,
    gridStep: plan.noise.gridStep,
    epsilonSpent: cost.roundEpsilon,
    delta: budget.delta,
    noiseDisabled: noiseFree,
    contributorsSha256: header.contributorsSha256,
    releasedUnixMs: BigInt(clock()),
    ...(plan.votes && votes
      ? {
          votes: {
            mechanism: config.votes!.mechanism,
            queries: plan.votes.queries,
            classes: plan.votes.classes,
            answeredCount: votes.answered,
            abstainedCount: votes.abstained,
          },
        }
      : {}),
  });
  const recorded = store.recordRelease({
    roundId,
    contributorsSha256: header.contributorsSha256,
    header: toBinary(ResultHeaderSchema, result),
    sum: bytesOf(sum),
    releasedMs: Number(result.releasedUnixMs),
  });
  if (!recorded) {
    // Unreachable within one process (nothing awaited since the charge); another process recorded first: its outcome stands.
    sum.fill(0);
    throw refuse('release_raced', `round ${roundId}: another release attempt recorded the outcome first; retry to receive it`);
  }
  logger.info(
    { roundId, privacyGroup: budget.privacyGroup, count: header.contributionCount, sigma: plan.noise.sigma, epsilon: cost.roundEpsilon, groupEpsilon: cost.groupEpsilonAfter },
    'round released and charged',
  );
  yield* resultFrames(result, [sum], deps.config.resultValuesPerMessage);
}

/**
 * What a round whose release was already decided answers: the stored
 * release for the same contributors, the fixed refusal for a refused or
 * destroyed key. Undefined while the release is still to be made (ready) or
 * to be resumed (charged).
 */
function recordedOutcome(key: RoundKeyRow, header: ReleaseHeader, deps: KeyholderContext): Generator<ReleaseRoundResponse> | undefined {
  const { store, logger } = deps;
  switch (key.status) {
    case 'ready':
    case 'charged':
      return undefined;
    case 'released': {
      const stored = store.getRelease(key.roundId);
      if (!stored) throw refuse('inconsistent_state', `round ${key.roundId} is marked released but has no stored release`);
      if (!sameDigest(stored.contributorsSha256, header.contributorsSha256)) throw refusal('already_released');
      logger.info({ roundId: key.roundId }, 'release repeated from the store');
      const storedRuns = (function* () {
        for (const bytes of store.releaseValues(key.roundId)) yield bytesToFloat64(bytes);
      })();
      return resultFrames(fromBinary(ResultHeaderSchema, stored.header), storedRuns, deps.config.resultValuesPerMessage);
    }
    case 'refused':
      if (key.claim && !sameDigest(key.claim.contributorsSha256, header.contributorsSha256)) throw refusal('claimed_by_other_sum');
      throw refusal(isReleaseRefusal(key.reason) ? key.reason : 'out_of_range');
    case 'expired':
      throw refusal('key_expired');
    case 'consumed':
      throw refusal('key_consumed');
  }
}

/** The cost recorded by the earlier charge of a resumed release (for the result header). */
export function chargedCost(key: RoundKeyRow, privacyGroup: string, deps: KeyholderContext): Affordability {
  const entry = deps.store.ledger(privacyGroup).find((e) => e.roundId === key.roundId);
  if (!entry) throw refuse('inconsistent_state', `round ${key.roundId} is charged but has no ledger entry`);
  return { roundEpsilon: entry.epsilon, groupEpsilonBefore: NaN, groupEpsilonAfter: NaN };
}

/**
 * Receives the chunk frames after the header, validates each ciphertext and
 * appends it to the spool, in order, until the stream ends; refuses a frame
 * out of order, an invalid ciphertext, more or fewer than `count`. Each
 * append is awaited before the next frame is read (backpressure to gRPC).
 */
export async function receiveCiphertexts(
  input: AsyncIterator<ReleaseRoundRequest | ReleaseShareRequest>,
  format: CiphertextFormat,
  count: number,
  spool: ReleaseSpool,
): Promise<void> {
  for (let next = await input.next(); !next.done; next = await input.next()) {
    const frame = next.value.frame;
    if (frame.case !== 'chunk') throw refuse('bad_framing', 'only chunk frames may follow the header');
    if (frame.value.index !== spool.count) {
      throw refuse('chunk_order', `chunk ${frame.value.index} arrived where ${spool.count} was expected`);
    }
    if (spool.count >= count) throw refuse('chunk_count', `chunk ${frame.value.index} is beyond the sum's ${count} ciphertexts`);
    const verdict = validateCiphertext(format, frame.value.ciphertext);
    if (!verdict.ok) throw refuse('bad_ciphertext', `chunk ${frame.value.index}: ${verdict.reason}`);
    await spool.append(frame.value.ciphertext);
  }
  if (spool.count !== count) {
    throw refuse('chunk_count', `received ${spool.count} of ${count} ciphertexts`);
  }
}

/**
 * Decrypts the spooled sum into one vector of `length` values, reading one
 * ciphertext at a time, synchronously. Zeroes the secret key whatever
 * happens, and the partial sum if decryption fails.
 */
function decryptSpool(engine: CkksEngine, secretKey: Uint8Array, spool: ReleaseSpool, length: number, valuesPerCiphertext: number): Float64Array {
  const sum = new Float64Array(length);
  try {
    using decryptor = engine.createDecryptor(secretKey);
    let offset = 0;
    for (const ciphertext of spool.read()) {
      const values = decryptor.decrypt(ciphertext);
      sum.set(values.subarray(0, Math.min(values.length, length - offset)), offset);
      offset += valuesPerCiphertext;
    }
    return sum;
  } catch (error) {
    sum.fill(0);
    throw error;
  } finally {
    secretKey.fill(0);
  }
}

export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The result header, then the sum's values in messages of at most
 * `perMessage` values, each a view of `runs` (consecutive pieces of the sum,
 * in order), not a copy.
 */
function* resultFrames(header: ResultHeader, runs: Iterable<Float64Array>, perMessage: number): Generator<ReleaseRoundResponse> {
  yield create(ReleaseRoundResponseSchema, { frame: { case: 'header', value: header } });
  let offset = 0;
  for (const run of runs) {
    for (let start = 0; start < run.length; start += perMessage) {
      const piece = run.subarray(start, Math.min(run.length, start + perMessage));
      yield create(ReleaseRoundResponseSchema, {
        frame: { case: 'values', value: { offset: offset + start, sumF64le: bytesOf(piece) } },
      });
    }
    offset += run.length;
  }
}

/** The little-endian bytes of `values` as a view, not a copy (Node's platforms are little-endian; protocol's float64.ts). */
function bytesOf(values: Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
