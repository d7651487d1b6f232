/**
 * ReleaseShare: a committee keyholder's part of a release (issue 16). The
 * keyholder never decrypts; it returns its decryption share of each
 * ciphertext of the sum, hᵢ = c₁·sᵢ + νᵢ (+ c₀ for the one share of a
 * combination that carries it), νᵢ its own full discrete Gaussian noise
 * (domain/threshold.ts). Only the sum of every keyholder's shares decodes.
 *
 * Order, as ReleaseRound's (docs/PRIVACY.md §4), enforced by this keyholder
 * on its own:
 *  1. header: the round has a share; a recorded outcome is answered from the
 *     store (same contributors digest and c₀ role: the same shares; anything
 *     else: the fixed refusal);
 *  2. admission by the header and the round's configuration (min clients and
 *     this keyholder's floor, max clients, ciphertext count, noise-free
 *     switch) and this keyholder's ledger: domain/release-policy.ts, the
 *     same rules as ReleaseRound's;
 *  3. the ciphertexts arrive, are validated and spooled; the noise of every
 *     share is drawn (data-independent; yields to the event loop between
 *     ciphertexts, the sampler being slow at these sizes);
 *  4. CHARGE this keyholder's ledger in one durable transaction, binding the
 *     key to (contributors digest, sum digest) (domain/release-charge.ts);
 *  5. the shares, computed with SEAL under the sealed secret share;
 *  6. record them as this round's release and destroy the key share in one
 *     transaction; stream them.
 * Steps 4-6 run without awaiting. A crash between 4 and 6 resumes under the
 * same charge with fresh noise (the lost shares never left the process).
 *
 * What is not here: the range check. No keyholder sees the sum; the combiner
 * checks the combined, noised sum (post-processing of the DP release, with
 * the fixed refusal text) before anything is stored as the round's result.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { refuse } from '@secagg/core';
import { decryptionShareByteLength, lagrangeScaleSecretKey, type CkksEngine } from '@secagg/ckks';
import { checkRoundId, isVoteRound, privacyGroupOf, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  ReleaseShareResponseSchema,
  RoundConfigSchema,
  ShareHeaderSchema,
  type ReleaseHeader,
  type ReleaseShareRequest,
  type ReleaseShareResponse,
  type ShareHeader,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import type { RoundKeyRow } from '../domain/key-store.js';
import { ReleaseSpool, releaseSpoolDir } from '../domain/release-spool.js';
import { planRoundPrivacy } from '../domain/privacy-plan.js';
import { budgetOf } from '../domain/privacy-budget.js';
import { chargeRelease, type Charged } from '../domain/release-charge.js';
import { admitKeyState, admitRelease, enforce, noisedRangeBounds, refusal, type PolicyRound, type RangeBounds } from '../domain/release-policy.js';
import { checkDecryptingSet, requireCommitteeMember, shareNoiseSource } from '../domain/threshold.js';
import { receiveCiphertexts } from './release-round.js';

export async function* releaseShare(requests: AsyncIterable<ReleaseShareRequest>, deps: KeyholderContext): AsyncGenerator<ReleaseShareResponse> {
  const { store, engines, sealer, logger, clock } = deps;
  const input = requests[Symbol.asyncIterator]();
  const first = await input.next();
  if (first.done || first.value.frame.case !== 'header' || !first.value.frame.value.release) {
    throw refuse('bad_framing', 'the first frame must be the share header with its release header');
  }
  const { release: header, includeC0, decryptingKeyholders } = first.value.frame.value;
  const roundId = checkRoundId(header.roundId);
  const key = store.getRoundKey(roundId);
  if (!key) throw refuse('no_round_key', `no key share for round ${roundId}`);
  const config = fromBinary(RoundConfigSchema, key.config);
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  const params = toCkksParams(ckks);
  const committee = requireCommitteeMember(config, deps.config, params.encoding, isVoteRound(config));
  const set = checkDecryptingSet(decryptingKeyholders, committee);
  if (set.length > 0 && !store.isKeyShareDealt(roundId) && key.status !== 'released') {
    throw refuse('not_dealt', `round ${roundId}'s key shares were never dealt: this keyholder holds no t-of-n share`);
  }
  const outcome = recordedShares(key, header, includeC0, set, deps);
  if (outcome) {
    yield* outcome;
    return;
  }

  const noiseFree = config.unsafeDisableNoise;
  const plan = planRoundPrivacy(config, params, deps.config.adjacency);
  const round: PolicyRound = { roundId, config, plan, budget: budgetOf(store, deps.config, privacyGroupOf(config)) };
  const budget = round.budget;
  enforce(admitRelease(round, header, ckks.ciphertextCount, store.ledger(budget.privacyGroup), key.status === 'charged', deps.config));

  const engine = await engines.get(params);
  const n = engine.format.polyModulusDegree;
  const spool = ReleaseSpool.create(releaseSpoolDir(deps.config), roundId, engine.format.byteLength);
  let shares: Uint8Array;
  let cost: Charged['cost'];
  try {
    await receiveCiphertexts(input, engine.format, ckks.ciphertextCount, spool);
    const draw = shareNoiseSource(plan.noise, n);
    const noises: (BigInt64Array | undefined)[] = [];
    for (let i = 0; i < ckks.ciphertextCount; i++) {
      noises.push(draw?.());
      await yieldToLoop();
    }
    const now = store.getRoundKey(roundId)!;
    const late = recordedShares(now, header, includeC0, set, deps);
    if (late) {
      yield* late;
      return;
    }
    // From here to the recorded outcome nothing awaits.
    const charged = chargeRelease(deps, round, now, { contributorsSha256: header.contributorsSha256, sumSha256: spool.digest() });
    cost = charged.cost;
    // t-of-n: the additive share of s for this set is λ·σ (multiparty.ts); n-of-n: sᵢ itself.
    const keyShare = sealer.unseal(charged.sealed, roundId);
    let scaled: Uint8Array = keyShare;
    if (set.length > 0) {
      try {
        scaled = lagrangeScaleSecretKey(params.preset, keyShare, committee.index, set);
      } finally {
        keyShare.fill(0);
      }
    }
    shares = computeShares(engine, scaled, spool, noises, includeC0);
  } finally {
    spool.discard();
  }

  const result = create(ShareHeaderSchema, {
    roundId,
    keyholderIndex: committee.index,
    contributionCount: header.contributionCount,
    contributorsSha256: header.contributorsSha256,
    noiseSigma: plan.noise.sigma,
    gridStep: noiseFree ? 0 : plan.noise.gridStep,
    epsilonSpent: cost.roundEpsilon,
    delta: budget.delta,
    decryptionErrorBound: plan.decryptionErrorBound,
    noiseDisabled: noiseFree,
    includeC0,
    decryptingKeyholders: set,
    vectorLength: config.vectorLength,
    ckks,
    // The combined sum carries `threshold` independent noises of σ each.
    ...rangeBoundsOf(
      noisedRangeBounds(
        header.contributionCount,
        config.clipNorm,
        config.vectorLength,
        plan.noise.sigma * Math.sqrt(committee.threshold),
        0, // the noise is on the plaintext's own lattice: no output rounding
        plan.decryptionErrorBound,
      ),
    ),
  });
  const recorded = store.recordRelease({
    roundId,
    contributorsSha256: header.contributorsSha256,
    header: toBinary(ShareHeaderSchema, result),
    sum: shares,
    releasedMs: clock(),
  });
  if (!recorded) throw refuse('release_raced', `round ${roundId}: another release attempt recorded the outcome first; retry to receive it`);
  logger.info(
    { roundId, keyholderIndex: committee.index, privacyGroup: budget.privacyGroup, count: header.contributionCount, epsilon: cost.roundEpsilon },
    'decryption shares released and charged',
  );
  yield* shareFrames(result, [shares], decryptionShareByteLength(params));
}

/**
 * What a round whose share was already decided answers (the policy's
 * admitKeyState): the stored shares for the same contributors, decrypting
 * set and c₀ role, or the refusal. Undefined while the release is still to
 * be made (ready) or resumed (charged).
 */
function recordedShares(
  key: RoundKeyRow,
  header: ReleaseHeader,
  includeC0: boolean,
  set: readonly number[],
  deps: KeyholderContext,
): Generator<ReleaseShareResponse> | undefined {
  if (enforce(admitKeyState(key, header.contributorsSha256, () => deps.store.getRelease(key.roundId))) === 'release') return undefined;
  const storedHeader = fromBinary(ShareHeaderSchema, deps.store.getRelease(key.roundId)!.header);
  if (storedHeader.decryptingKeyholders.join(',') !== set.join(',')) {
    // Shares for a second set would be a second release. Retryable: the combiner asks this set again once its members are back.
    throw refuse('other_decrypting_set', `round ${key.roundId}: this keyholder answered for keyholders ${storedHeader.decryptingKeyholders.join(',')}; ask that set`);
  }
  // Shares with the other c₀ role would be a second release too.
  if (storedHeader.includeC0 !== includeC0) throw refusal('already_released');
  deps.logger.info({ roundId: key.roundId }, 'decryption shares repeated from the store');
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  return shareFrames(storedHeader, deps.store.releaseValues(key.roundId), decryptionShareByteLength(toCkksParams(ckks)));
}

/** Every ciphertext's share, concatenated. Zeroes the secret share whatever happens. */
function computeShares(engine: CkksEngine, secretShare: Uint8Array, spool: ReleaseSpool, noises: (BigInt64Array | undefined)[], includeC0: boolean): Uint8Array {
  try {
    using decryptor = engine.createShareDecryptor(secretShare);
    const pieces: Uint8Array[] = [];
    let i = 0;
    for (const ciphertext of spool.read()) {
      pieces.push(decryptor.share(ciphertext, noises[i], includeC0));
      noises[i++]?.fill(0n);
    }
    return Buffer.concat(pieces);
  } finally {
    secretShare.fill(0);
  }
}

/** The share header, then one frame per share, cut from `runs` (the stored rows need not align with shares). */
function* shareFrames(header: ShareHeader, runs: Iterable<Uint8Array>, shareBytes: number): Generator<ReleaseShareResponse> {
  yield create(ReleaseShareResponseSchema, { frame: { case: 'header', value: header } });
  let index = 0;
  let pending: Uint8Array = new Uint8Array(0);
  for (const run of runs) {
    let bytes = pending.length === 0 ? run : Buffer.concat([pending, run]);
    while (bytes.length >= shareBytes) {
      yield create(ReleaseShareResponseSchema, { frame: { case: 'share', value: { index: index++, share: bytes.subarray(0, shareBytes) } } });
      bytes = bytes.subarray(shareBytes);
    }
    pending = bytes;
  }
  if (pending.length !== 0) throw refuse('inconsistent_state', 'stored decryption shares end mid-share');
}

function rangeBoundsOf(bounds: RangeBounds): { rangeBoundPerValue: number; rangeBoundL2: number } {
  return { rangeBoundPerValue: bounds.perValue, rangeBoundL2: bounds.l2 };
}
