/**
 * ReleaseRound: the only path by which anything decrypted leaves the keyholder.
 *
 * Order (domain/release-policy.ts holds the rules; this is orchestration):
 *  1. header: the round has a key. If its release is already recorded, the
 *     same contributors get the stored release again, and a refused round
 *     the same fixed refusal (no second decryption, no second charge):
 *     the policy's admitKeyState.
 *  2. admission by the header and the round's configuration only (the
 *     policy's admitRelease): count >= max(min_clients, the operator's
 *     floor), <= max_clients, ciphertext count, the noise-free switch; the
 *     privacy group's budget affords the release.
 *  3. every ciphertext of the sum arrives and passes validation; each is
 *     written to a spool file as it arrives (domain/release-spool.ts), its
 *     SHA-256 taken on the way, so memory holds one ciphertext, not the sum.
 *     From here to step 6 nothing awaits.
 *  4. CHARGE (domain/release-charge.ts): in one durable transaction the budget is re-checked against the
 *     ledger, the ledger is charged and the key is bound to (contributors
 *     digest, sum digest). Every decryption is charged, whatever follows.
 *     A key already charged for the same digests (a crash or a lost answer
 *     after an earlier charge) is resumed without a second charge.
 *  5. decrypt the spool into one vector; quantize and add discrete Gaussian
 *     noise sigma = z * C in place (the noise-free values are overwritten,
 *     never copied); only then the range check, on the NOISED sum
 *     (the policy's admitNoisedSum: per value and L2, bounds that allow for the noise). A vote round
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
import { refuse } from '@secagg/core';
import { validateCiphertext, type CiphertextFormat, type CkksEngine } from '@secagg/ckks';
import { bytesToFloat64, checkRoundId, privacyGroupOf, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  ReleaseRoundResponseSchema,
  ResultHeaderSchema,
  RoundConfigSchema,
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
import { budgetOf } from '../domain/privacy-budget.js';
import { chargeRelease, type Charged } from '../domain/release-charge.js';
import { requireSingleKeyholder } from '../domain/threshold.js';
import { admitKeyState, admitNoisedSum, admitRelease, enforce, refusal, type PolicyRound } from '../domain/release-policy.js';

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
  // 1. The key's state: a release to make (or resume), the stored one to repeat, or its fixed refusal.
  if (enforce(admitKeyState(key, header.contributorsSha256, () => store.getRelease(roundId))) === 'repeat') {
    yield* storedRelease(key, deps);
    return;
  }

  // 2. Admission by the header, the configuration and the ledger.
  const config = fromBinary(RoundConfigSchema, key.config);
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  requireSingleKeyholder(config, deps.config);
  const params = toCkksParams(ckks);
  const plan = planRoundPrivacy(config, params, deps.config.adjacency);
  const round: PolicyRound = { roundId, config, plan, budget: budgetOf(store, deps.config, privacyGroupOf(config)) };
  enforce(admitRelease(round, header, ckks.ciphertextCount, store.ledger(round.budget.privacyGroup), key.status === 'charged', deps.config));

  // 3. Receive and spool; 4. charge; 5. decrypt.
  const engine = await engines.get(params);
  const spool = ReleaseSpool.create(releaseSpoolDir(deps.config), roundId, engine.format.byteLength);
  let sum: Float64Array;
  let cost: Charged['cost'];
  try {
    await receiveCiphertexts(input, engine.format, ckks.ciphertextCount, spool);
    // Another call may have recorded this round's outcome while this one received.
    const now = store.getRoundKey(roundId)!;
    if (enforce(admitKeyState(now, header.contributorsSha256, () => store.getRelease(roundId))) === 'repeat') {
      yield* storedRelease(now, deps);
      return;
    }
    // From here to the recorded outcome nothing awaits: no other call of this process can slip in between.
    const charged = chargeRelease(deps, round, now, { contributorsSha256: header.contributorsSha256, sumSha256: spool.digest() });
    cost = charged.cost;
    sum = decryptSpool(engine, sealer.unseal(charged.sealed, roundId), spool, config.vectorLength, ckks.valuesPerCiphertext);
  } finally {
    spool.discard();
  }

  // 5. The noise goes on before anything looks at the values: every decision below is post-processing of the DP release.
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
    const inRange = admitNoisedSum(sum, round, header.contributionCount);
    if (!inRange.admitted) {
      sum.fill(0);
      store.recordRefusal(roundId, 'out_of_range');
      logger.warn({ roundId, reason: 'out_of_range' }, 'release refused: the noised sum is out of range (charged)');
      throw inRange.refusal;
    }
  }

  // 6. Record the release and destroy the key, then stream it.
  const result = create(ResultHeaderSchema, {
    roundId,
    contributionCount: header.contributionCount,
    vectorLength: config.vectorLength,
    noiseSigma: plan.noise.sigma,
    gridStep: plan.noise.gridStep,
    epsilonSpent: cost.roundEpsilon,
    delta: round.budget.delta,
    noiseDisabled: config.unsafeDisableNoise,
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
    { roundId, privacyGroup: round.budget.privacyGroup, count: header.contributionCount, sigma: plan.noise.sigma, epsilon: cost.roundEpsilon, groupEpsilon: cost.groupEpsilonAfter },
    'round released and charged',
  );
  yield* resultFrames(result, [sum], deps.config.resultValuesPerMessage);
}

/** The stored release of a released round, again (its contributors were checked by the policy). */
function storedRelease(key: RoundKeyRow, deps: KeyholderContext): Generator<ReleaseRoundResponse> {
  const stored = deps.store.getRelease(key.roundId)!;
  deps.logger.info({ roundId: key.roundId }, 'release repeated from the store');
  const storedRuns = (function* () {
    for (const bytes of deps.store.releaseValues(key.roundId)) yield bytesToFloat64(bytes);
  })();
  return resultFrames(fromBinary(ResultHeaderSchema, stored.header), storedRuns, deps.config.resultValuesPerMessage);
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
