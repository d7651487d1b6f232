/**
 * round-lifecycle jobs.
 *
 * close-round { roundId }: the deadline passed (a delayed job, so a deadline
 * that passes while every service is down is honoured when they return).
 * Closes the round if still open and its deadline has passed by Redis's clock
 * (the job's delay was computed by another process's clock, which may be
 * skewed), and asks for finalization. A job that fires early changes nothing;
 * the sweeper (jobs/sweeper.ts) closes the round once its deadline passes.
 * Idempotent.
 *
 * finalize-round { roundId }: once the round is closed and every committed
 * update is folded, sums the partial sums and streams the encrypted total to
 * the keyholder's release; stores the released result and marks the round
 * RELEASED. Below min_clients the round becomes FAILED and nothing is
 * decrypted. While folds are missing it re-queues them (idempotent ids) and
 * re-checks later without spending an attempt. Idempotent end to end: a retry
 * after a crash sends the same contributors digest, and the keyholder answers
 * with its stored release instead of decrypting again.
 *
 * Keyholder answers (issue 12 item 3): a refusal of the release policy is
 * permanent and fails the round with the keyholder's fixed reason; anything
 * else — unavailable, deadline exceeded, overloaded, a lost connection, an
 * internal error, and also authentication failures an operator can fix — is
 * thrown and retried for ever with capped exponential backoff, because a retry
 * could still release (the keyholder answers a repeated release with the same
 * digest from its store). A round is never failed when a retry could release.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, isSecaggError } from '@secagg/core';
import { contributorsDigest, formatOf } from '@secagg/protocol';
import { ResultHeaderSchema, type ReleaseRoundRequest, type ResultHeader } from '@secagg/proto';
import type { LifecycleJob } from '@secagg/queue';
import type { RoundRecord } from '@secagg/store';
import type { AggregatorContext } from '../aggregator-context.js';
import { addInto } from '../domain/ciphertext-sum.js';
import { latestHonestDelayMs } from './sweeper.js';

export async function runLifecycleJob(job: Job<LifecycleJob>, token: string | undefined, deps: AggregatorContext): Promise<string> {
  switch (job.data.kind) {
    case 'close-round':
      return closeAtDeadline(job.data.roundId, deps);
    case 'finalize-round':
      return finalizeRound(job, token, deps);
    default:
      throw new UnrecoverableError(`unknown lifecycle job ${JSON.stringify(job.data)}`);
  }
}

async function closeAtDeadline(roundId: string, deps: AggregatorContext): Promise<string> {
  const { state, remainingMs } = await deps.store.closeAtDeadline(roundId);
  if (state === undefined) throw new UnrecoverableError(`round ${roundId} does not exist`);
  if (state === 'OPEN') {
    deps.logger.warn({ roundId, remainingMs }, 'close job ran before the deadline by Redis\'s clock (clock skew?): the sweeper closes the round at its deadline');
    return state;
  }
  if (state === 'CLOSED') await deps.queues.enqueueFinalize(roundId);
  deps.logger.info({ roundId, state }, 'deadline reached');
  return state;
}

/**
 * Permanent keyholder refusals: the release policy said no (below min
 * clients, budget exhausted, out of range, released with other contributors,
 * no key), and asking again cannot change the answer. The round fails with the
 * keyholder's reason. Every other code is retried.
 */
const REFUSALS = [Code.FailedPrecondition, Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.OutOfRange];

async function finalizeRound(job: Job<LifecycleJob>, token: string | undefined, deps: AggregatorContext): Promise<string> {
  const { store, queues, logger, clock } = deps;
  const roundId = job.data.roundId;
  const round = await store.getRound(roundId);
  if (!round) throw new UnrecoverableError(`round ${roundId} does not exist`);
  if (round.state === 'RELEASED' || round.state === 'FAILED' || round.state === 'OPEN') return round.state;

  const committed = await store.committedUpdates(roundId);
  const folded = await store.foldedClients(roundId);
  const missing = [...committed].filter(([clientId]) => !folded.has(clientId));
  if (missing.length > 0) {
    // A fold retry parked beyond any honest backoff (by an aggregator whose clock runs ahead) runs now.
    const dueBy = (await store.redisTimeMs()) + latestHonestDelayMs(deps.config);
    for (const [clientId, updateId] of missing) await queues.enqueueFold({ roundId, clientId, updateId }, { dueBy });
    await job.moveToDelayed(Date.now() + deps.config.finalizePollMs, token);
    throw new DelayedError();
  }

  const minClients = round.config.minClients;
  if (committed.size < minClients) {
    const reason = `only ${committed.size} of the required ${minClients} updates were committed before the round closed`;
    await store.failRound(roundId, reason, clock());
    await store.dropWorkingSet(roundId);
    logger.warn({ roundId, committed: committed.size, minClients }, 'round failed: below min clients');
    return 'FAILED';
  }

  const total = await sumPartialSums(round, folded.size, deps);
  const digest = contributorsDigest([...committed].map(([clientId, updateId]) => ({ clientId, updateId })));
  let release: { header: ResultHeader; runs: Buffer[] };
  logger.info({ roundId, count: committed.size, attempt: job.attemptsMade + 1 }, 'requesting the release');
  try {
    release = await requestRelease(round, total, committed.size, digest, deps);
  } catch (error) {
    if (isSecaggError(error, ...REFUSALS)) {
      await store.failRound(roundId, `keyholder refused the release: ${error.message}`, clock());
      await store.dropWorkingSet(roundId);
      logger.warn({ roundId, reason: error.message }, 'round failed: release refused');
      return 'FAILED';
    }
    logger.warn({ roundId, err: error }, 'release not obtained yet (transient): retrying with backoff');
    throw error;
  }
  await store.storeRelease(roundId, toBinary(ResultHeaderSchema, release.header), release.runs, clock());
  await store.dropWorkingSet(roundId);
  logger.info({ roundId, count: committed.size }, 'round released');
  return 'RELEASED';
}

/**
 * The encrypted total of every partial sum. The versions of the partial sums
 * count the updates folded into each; their total must equal the folded set,
 * which proves no partial sum was missed.
 */
async function sumPartialSums(round: RoundRecord, foldedCount: number, deps: AggregatorContext): Promise<Buffer[]> {
  const format = formatOf(round.ckks);
  let total: Buffer[] | undefined;
  let versions = 0;
  for (const shard of await deps.store.shardsInUse(round.roundId)) {
    const { version, ciphertexts } = await deps.store.readShard(round.roundId, shard);
    versions += Number(version);
    if (ciphertexts.length === 0) continue;
    if (total) addInto(format, total, ciphertexts);
    else total = ciphertexts;
  }
  if (versions !== foldedCount || !total) {
    throw new UnrecoverableError(`partial sums hold ${versions} updates but ${foldedCount} are recorded as folded`);
  }
  return total;
}

async function requestRelease(
  round: RoundRecord,
  total: Buffer[],
  count: number,
  digest: Uint8Array,
  deps: AggregatorContext,
): Promise<{ header: ResultHeader; runs: Buffer[] }> {
  function* frames(): Generator<ReleaseRoundRequest> {
    yield {
      $typeName: 'secagg.keyholder.v1.ReleaseRoundRequest',
      frame: {
        case: 'header',
        value: {
          $typeName: 'secagg.keyholder.v1.ReleaseHeader',
          roundId: round.roundId,
          contributionCount: count,
          contributorsSha256: digest,
          ciphertextCount: total.length,
        },
      },
    };
    for (let index = 0; index < total.length; index++) {
      yield {
        $typeName: 'secagg.keyholder.v1.ReleaseRoundRequest',
        frame: { case: 'chunk', value: { $typeName: 'secagg.keyholder.v1.ReleaseChunk', index, ciphertext: total[index]! } },
      };
    }
  }
  let header: ResultHeader | undefined;
  const runs: Buffer[] = [];
  for await (const response of deps.keyholder.releaseRound(frames(), { deadline: deps.config.keyholderDeadlineMs })) {
    if (response.frame.case === 'header') header = response.frame.value;
    else if (response.frame.case === 'values') runs.push(Buffer.from(response.frame.value.sumF64le));
  }
  if (!header) throw new Error('keyholder sent no result header');
  const received = runs.reduce((n, run) => n + run.length / 8, 0);
  if (received !== round.config.vectorLength) throw new Error(`keyholder sent ${received} of ${round.config.vectorLength} values`);
  return { header: fromBinary(ResultHeaderSchema, toBinary(ResultHeaderSchema, header)), runs };
}
