/**
 * ReleaseRound: the only path by which anything decrypted leaves the keyholder.
 *
 * Order (each refusal a precise status, nothing released):
 *  1. header: the round has a key; if it was released before with the same
 *     contributors, the stored release is returned again (no second
 *     decryption, no second charge); otherwise the key must be unused;
 *  2. contribution_count >= the round's own min_clients (the keyholder's copy);
 *  3. the privacy group's budget affords this release on top of every release
 *     already charged (FAILED_PRECONDITION privacy_budget_exhausted);
 *  4. every ciphertext of the sum arrives and passes validation; the budget
 *     is checked again, and from here to the charge nothing awaits;
 *  5. the secret key is taken out of the store (deleted) - from here on the
 *     round can never be decrypted again, whatever happens;
 *  6. decrypt; range check |v| <= count * C for every value and L2 norm of the
 *     sum <= count * C (+ CKKS error margin), else refuse: a forged or
 *     poisoned aggregate;
 *  7. quantize and add discrete Gaussian noise sigma = z * C;
 *  8. store the release and charge the ledger in one durable transaction,
 *     which re-checks the budget against the ledger as it is then;
 *  9. stream the result.
 * A crash after 5 wastes the round; after 8 the ledger is charged and a retry
 * gets the stored release. Budget is never under-counted.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timingSafeEqual } from 'node:crypto';
import { Code, SecaggError } from '@secagg/core';
import { validateCiphertext } from '@secagg/ckks';
import { bytesToFloat64, checkRoundId, float64ToBytes, privacyGroupOf, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  ReleaseRoundResponseSchema,
  ResultHeaderSchema,
  RoundConfigSchema,
  type ReleaseRoundRequest,
  type ReleaseRoundResponse,
  type ResultHeader,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { applyNoise } from '../domain/noise.js';
import { planRoundPrivacy } from '../domain/privacy-plan.js';
import { budgetOf, requireAffordable, type Affordability } from '../domain/privacy-budget.js';

/** Relative slack of the range check over count * C, for CKKS approximation error. */
const RANGE_SLACK = 1e-6;

export async function* releaseRound(
  requests: AsyncIterable<ReleaseRoundRequest>,
  deps: KeyholderContext,
): AsyncGenerator<ReleaseRoundResponse> {
  const { store, engines, sealer, logger, clock } = deps;
  const input = requests[Symbol.asyncIterator]();
  const first = await input.next();
  if (first.done || first.value.frame.case !== 'header') {
    throw new SecaggError(Code.InvalidArgument, 'the first frame must be the release header');
  }
  const header = first.value.frame.value;
  const roundId = checkRoundId(header.roundId);
  const key = store.getRoundKey(roundId);
  if (!key) throw new SecaggError(Code.NotFound, `no key for round ${roundId}`);

  const stored = store.getRelease(roundId);
  if (stored) {
    if (!sameDigest(stored.contributorsSha256, header.contributorsSha256)) {
      throw new SecaggError(Code.FailedPrecondition, `round ${roundId} was already released with other contributors`, {
        errorCode: 'already_released',
      });
    }
    logger.info({ roundId }, 'release repeated from the store');
    yield* resultFrames(fromBinary(ResultHeaderSchema, stored.header), bytesToFloat64(stored.sum), deps.config.resultValuesPerMessage);
    return;
  }
  if (key.status !== 'ready') {
    throw new SecaggError(Code.FailedPrecondition, `round ${roundId} can no longer be released (key ${key.status}: ${key.reason})`, {
      errorCode: 'key_consumed',
    });
  }

  const config = fromBinary(RoundConfigSchema, key.config);
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  if (header.contributionCount < config.minClients) {
    throw new SecaggError(
      Code.FailedPrecondition,
      `only ${header.contributionCount} contributions; the round needs at least ${config.minClients}`,
      { errorCode: 'below_min_clients' },
    );
  }
  if (header.contributionCount > config.maxClients) {
    throw new SecaggError(Code.FailedPrecondition, `${header.contributionCount} contributions exceed max_clients ${config.maxClients}`, {
      errorCode: 'above_max_clients',
    });
  }
  if (header.ciphertextCount !== ckks.ciphertextCount) {
    throw new SecaggError(Code.InvalidArgument, `ciphertext_count ${header.ciphertextCount} != ${ckks.ciphertextCount}`);
  }
  const noiseFree = config.unsafeDisableNoise;
  if (noiseFree && !deps.config.allowUnsafeNoiseFreeRelease) {
    throw new SecaggError(Code.FailedPrecondition, 'noise-free releases are not allowed by this keyholder');
  }

  const params = toCkksParams(ckks);
  const plan = planRoundPrivacy(config, params, deps.config.adjacency);
  const budget = budgetOf(store, deps.config, privacyGroupOf(config));
  // Noise-free (test-only) releases are not budgeted: they are charged epsilon = +Infinity.
  const affordable = (ledger = store.ledger(budget.privacyGroup)): Affordability =>
    noiseFree
      ? { roundEpsilon: Infinity, groupEpsilonBefore: NaN, groupEpsilonAfter: Infinity }
      : requireAffordable(budget, ledger, plan, roundId);
  affordable();

  const engine = await engines.get(params);
  const ciphertexts: Uint8Array[] = [];
  for (let next = await input.next(); !next.done; next = await input.next()) {
    const frame = next.value.frame;
    if (frame.case !== 'chunk') throw new SecaggError(Code.InvalidArgument, 'only chunk frames may follow the header');
    if (frame.value.index !== ciphertexts.length) {
      throw new SecaggError(Code.InvalidArgument, `chunk ${frame.value.index} arrived where ${ciphertexts.length} was expected`);
    }
    const verdict = validateCiphertext(engine.format, frame.value.ciphertext);
    if (!verdict.ok) throw new SecaggError(Code.InvalidArgument, `chunk ${frame.value.index}: ${verdict.reason}`);
    ciphertexts.push(frame.value.ciphertext);
  }
  if (ciphertexts.length !== ckks.ciphertextCount) {
    throw new SecaggError(Code.InvalidArgument, `received ${ciphertexts.length} of ${ckks.ciphertextCount} ciphertexts`);
  }

  // Again, with nothing awaited from here to the charge: no other release of this process can slip in between.
  const cost = affordable();
  const sealed = store.consumeSecretKey(roundId);
  if (!sealed) throw new SecaggError(Code.FailedPrecondition, `round ${roundId} key was consumed concurrently`);
  const sum = new Float64Array(config.vectorLength);
  const secretKey = sealer.unseal(sealed, roundId);
  try {
    using decryptor = engine.createDecryptor(secretKey);
    for (let i = 0; i < ciphertexts.length; i++) {
      const values = decryptor.decrypt(ciphertexts[i]!);
      const offset = i * ckks.valuesPerCiphertext;
      sum.set(values.subarray(0, Math.min(values.length, sum.length - offset)), offset);
    }
  } finally {
    secretKey.fill(0);
  }

  const reason = outOfRange(sum, header.contributionCount, config.clipNorm, plan.decryptionErrorBound);
  if (reason) {
    store.markRefused(roundId, reason);
    sum.fill(0);
    logger.warn({ roundId, reason }, 'release refused: range check');
    throw new SecaggError(Code.FailedPrecondition, reason, { errorCode: 'out_of_range' });
  }

  const noisy = applyNoise(sum, plan.noise);
  if (noisy !== sum) sum.fill(0);
  const now = clock();
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
    releasedUnixMs: BigInt(now),
  });
  try {
    store.recordRelease(
      { roundId, contributorsSha256: header.contributorsSha256, header: toBinary(ResultHeaderSchema, result), sum: float64ToBytes(noisy), releasedMs: now },
      {
        privacyGroup: budget.privacyGroup,
        roundId,
        noiseMultiplier: plan.accountingNoiseMultiplier,
        samplingRate: plan.samplingRate,
        epsilon: cost.roundEpsilon,
        delta: budget.delta,
        chargedMs: now,
      },
      (ledger) => void affordable(ledger),
    );
  } catch (error) {
    // Only reachable if another process charged the group in between: the key is gone, nothing leaves.
    noisy.fill(0);
    store.markRefused(roundId, (error as Error).message);
    throw error;
  }
  logger.info(
    { roundId, privacyGroup: budget.privacyGroup, count: header.contributionCount, sigma: plan.noise.sigma, epsilon: cost.roundEpsilon, groupEpsilon: cost.groupEpsilonAfter },
    'round released and charged',
  );
  deps.afterCharge?.(roundId);
  yield* resultFrames(result, noisy, deps.config.resultValuesPerMessage);
}

/**
 * Why the decrypted sum cannot be a sum of `count` updates clipped to L2 norm
 * C, or undefined if it can. Every honest value has |v| <= count * C, and the
 * whole sum has L2 norm <= count * C (the triangle inequality), both up to
 * the CKKS error and RANGE_SLACK. The L2 test is the stronger one: it also
 * refuses a forged ciphertext that keeps every value small but spreads
 * energy over many values (e.g. a multiple of the secret key, which a
 * flooded release would otherwise partly reveal; docs/PRIVACY.md).
 */
function outOfRange(sum: Float64Array, count: number, clipNorm: number, errorPerValue: number): string | undefined {
  const total = count * clipNorm;
  const bound = total * (1 + RANGE_SLACK) + RANGE_SLACK * clipNorm + errorPerValue;
  let outside = 0;
  let squares = 0;
  for (const v of sum) {
    if (!(Math.abs(v) <= bound)) outside++;
    squares += v * v;
  }
  if (outside > 0) return `decrypted sum out of range: ${outside} values exceed count x clip_norm = ${bound}; a forged or poisoned aggregate`;
  const norm = Math.sqrt(squares);
  const normBound = total * (1 + RANGE_SLACK) + RANGE_SLACK * clipNorm + Math.sqrt(sum.length) * errorPerValue;
  if (!(norm <= normBound)) {
    return `decrypted sum out of range: its L2 norm ${norm.toPrecision(6)} exceeds count x clip_norm = ${normBound.toPrecision(6)}; a forged or poisoned aggregate`;
  }
  return undefined;
}

function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function* resultFrames(header: ResultHeader, sum: Float64Array, perMessage: number): Generator<ReleaseRoundResponse> {
  yield create(ReleaseRoundResponseSchema, { frame: { case: 'header', value: header } });
  for (let offset = 0; offset < sum.length; offset += perMessage) {
    const run = sum.subarray(offset, Math.min(sum.length, offset + perMessage));
    yield create(ReleaseRoundResponseSchema, {
      frame: { case: 'values', value: { offset, sumF64le: float64ToBytes(run) } },
    });
  }
}

