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
 *  4. every ciphertext of the sum arrives and passes validation; each is
 *     written to a spool file as it arrives (domain/release-spool.ts), so
 *     memory holds one ciphertext, not the sum; the budget is checked again,
 *     and from here to the charge nothing awaits;
 *  5. the secret key is taken out of the store (deleted) - from here on the
 *     round can never be decrypted again, whatever happens;
 *  6. decrypt the spool, read back synchronously one ciphertext at a time,
 *     into one vector; the spool is deleted (also on any failure); range
 *     check |v| <= count * C for every value and L2 norm of the sum
 *     <= count * C (+ CKKS error margin), else refuse: a forged or poisoned
 *     aggregate;
 *  7. quantize and add discrete Gaussian noise sigma = z * C, in place (the
 *     noise-free values are overwritten, never copied);
 *  8. store the release and charge the ledger in one durable transaction,
 *     which re-checks the budget against the ledger as it is then;
 *  9. stream the result.
 * A crash after 5 wastes the round; after 8 the ledger is charged and a retry
 * gets the stored release. Budget is never under-counted. A spool file left
 * by a crash is deleted at the next start (main.ts).
 *
 * Memory: one ciphertext while receiving; then one Float64Array of
 * vector_length (decrypted, range-checked, noised and stored in place; the
 * store binds a byte view of it, the response frames are views of runs).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timingSafeEqual } from 'node:crypto';
import { Code, SecaggError } from '@secagg/core';
import { validateCiphertext, type CiphertextFormat, type CkksEngine } from '@secagg/ckks';
import { bytesToFloat64, checkRoundId, privacyGroupOf, toCkksParams } from '@secagg/protocol';
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
import { applyNoiseInPlace } from '../domain/noise.js';
import { ReleaseSpool, releaseSpoolDir } from '../domain/release-spool.js';
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
    const storedRuns = (function* () {
      for (const bytes of store.releaseValues(roundId)) yield bytesToFloat64(bytes);
    })();
    yield* resultFrames(fromBinary(ResultHeaderSchema, stored.header), storedRuns, deps.config.resultValuesPerMessage);
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
  const spool = ReleaseSpool.create(releaseSpoolDir(deps.config), roundId, engine.format.byteLength);
  let sum: Float64Array;
  let cost: Affordability;
  try {
    await receiveCiphertexts(input, engine.format, ckks.ciphertextCount, spool);
    // Again, with nothing awaited from here to the charge: no other release of this process can slip in between.
    cost = affordable();
    const sealed = store.consumeSecretKey(roundId);
    if (!sealed) throw new SecaggError(Code.FailedPrecondition, `round ${roundId} key was consumed concurrently`);
    sum = decryptSpool(engine, sealer.unseal(sealed, roundId), spool, config.vectorLength, ckks.valuesPerCiphertext);
  } finally {
    spool.discard();
  }

  const reason = outOfRange(sum, header.contributionCount, config.clipNorm, plan.decryptionErrorBound);
  if (reason) {
    store.markRefused(roundId, reason);
    sum.fill(0);
    logger.warn({ roundId, reason }, 'release refused: range check');
    throw new SecaggError(Code.FailedPrecondition, reason, { errorCode: 'out_of_range' });
  }

  applyNoiseInPlace(sum, plan.noise);
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
      { roundId, contributorsSha256: header.contributorsSha256, header: toBinary(ResultHeaderSchema, result), sum: bytesOf(sum), releasedMs: now },
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
    sum.fill(0);
    store.markRefused(roundId, (error as Error).message);
    throw error;
  }
  logger.info(
    { roundId, privacyGroup: budget.privacyGroup, count: header.contributionCount, sigma: plan.noise.sigma, epsilon: cost.roundEpsilon, groupEpsilon: cost.groupEpsilonAfter },
    'round released and charged',
  );
  deps.afterCharge?.(roundId);
  yield* resultFrames(result, [sum], deps.config.resultValuesPerMessage);
}

/**
 * Receives the chunk frames after the header, validates each ciphertext and
 * appends it to the spool, in order, until the stream ends; refuses a frame
 * out of order, an invalid ciphertext, more or fewer than `count`. Each
 * append is awaited before the next frame is read (backpressure to gRPC).
 */
async function receiveCiphertexts(
  input: AsyncIterator<ReleaseRoundRequest>,
  format: CiphertextFormat,
  count: number,
  spool: ReleaseSpool,
): Promise<void> {
  for (let next = await input.next(); !next.done; next = await input.next()) {
    const frame = next.value.frame;
    if (frame.case !== 'chunk') throw new SecaggError(Code.InvalidArgument, 'only chunk frames may follow the header');
    if (frame.value.index !== spool.count) {
      throw new SecaggError(Code.InvalidArgument, `chunk ${frame.value.index} arrived where ${spool.count} was expected`);
    }
    if (spool.count >= count) throw new SecaggError(Code.InvalidArgument, `chunk ${frame.value.index} is beyond the sum's ${count} ciphertexts`);
    const verdict = validateCiphertext(format, frame.value.ciphertext);
    if (!verdict.ok) throw new SecaggError(Code.InvalidArgument, `chunk ${frame.value.index}: ${verdict.reason}`);
    await spool.append(frame.value.ciphertext);
  }
  if (spool.count !== count) {
    throw new SecaggError(Code.InvalidArgument, `received ${spool.count} of ${count} ciphertexts`);
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

