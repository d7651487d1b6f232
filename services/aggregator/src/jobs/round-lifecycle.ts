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
 * finalize-round { roundId }: once the round is closed and every range's
 * checkpoint covers the whole (now final) commit log (jobs/range-worker.ts),
 * concatenates the ranges' checkpoints — the encrypted total — and streams it
 * to the keyholder's release; writes the released sum to the ciphertext
 * store as it arrives (durably), then records its object and header and marks
 * the round RELEASED in one script, and deletes the round's other objects and
 * fold progress. The result object stays as long as the round's record (it is
 * what GetResult serves).
 * Below min_clients the round becomes FAILED and nothing is decrypted. While
 * ranges are behind it re-checks later without spending an attempt (the range
 * workers fold). Idempotent end to end: a retry after a crash sends the same
 * contributors digest and the same encrypted sum, and the keyholder answers
 * with its stored release (or resumes the charged one) instead of decrypting
 * again; the first attempt to record its result object wins, and any other
 * attempt's object is deleted with the working set (domain/result-writer.ts).
 * A finalize of a round already finished deletes what a crash after the
 * record left of its working set.
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
import { validateCiphertext } from '@secagg/ckks';
import { contributorsDigest, formatOf } from '@secagg/protocol';
import { ResultHeaderSchema, type ReleaseRoundRequest, type ResultHeader } from '@secagg/proto';
import type { LifecycleJob } from '@secagg/queue';
import { rangesOf, type CiphertextRange, type ResultObject, type RoundRecord } from '@secagg/store';
import type { AggregatorContext } from '../aggregator-context.js';
import { ResultWriter } from '../domain/result-writer.js';

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
  const { store, progress, logger, clock } = deps;
  const roundId = job.data.roundId;
  const round = await store.getRound(roundId);
  if (!round) throw new UnrecoverableError(`round ${roundId} does not exist`);
  if (round.state === 'OPEN') return round.state;
  const perRange = await progress.ciphertextsPerRange(roundId, deps.config.ciphertextsPerRange);
  const ranges = rangesOf(round.ckks.ciphertextCount, perRange);
  if (round.state === 'RELEASED' || round.state === 'FAILED') {
    // A crash between the record and the clean-up leaves the working set (and maybe another attempt's result object).
    const result = round.state === 'RELEASED' ? await store.readResult(roundId) : undefined;
    await dropRound(roundId, ranges.length, deps, result?.object ? [result.object.name] : []);
    return round.state;
  }

  const committed = await store.committedUpdates(roundId);
  const minClients = round.config.minClients;
  if (committed.size < minClients) {
    const reason = `only ${committed.size} of the required ${minClients} updates were committed before the round closed`;
    await store.failRound(roundId, reason, clock());
    await dropRound(roundId, ranges.length, deps);
    logger.warn({ roundId, committed: committed.size, minClients }, 'round failed: below min clients');
    return 'FAILED';
  }

  // The log is final once the round is CLOSED; the commit script appends one entry per committed update.
  const logLength = await progress.logLength(roundId);
  if (logLength !== committed.size) {
    throw new UnrecoverableError(`round ${roundId}: the commit log holds ${logLength} updates but ${committed.size} are committed`);
  }
  const checkpoints = await progress.checkpoints(roundId, ranges.length);
  if (checkpoints.some((c) => c.folded < logLength)) {
    await job.moveToDelayed(Date.now() + deps.config.finalizePollMs, token);
    throw new DelayedError();
  }
  if (checkpoints.some((c) => c.folded > logLength)) {
    throw new UnrecoverableError(`round ${roundId}: a range checkpoint covers more than the ${logLength} committed updates`);
  }

  const total = totalCiphertexts(round, ranges, checkpoints.map((c) => c.checkpoint), deps);
  const digest = contributorsDigest([...committed].map(([clientId, updateId]) => ({ clientId, updateId })));
  let release: { header: ResultHeader; object: ResultObject };
  logger.info({ roundId, count: committed.size, attempt: job.attemptsMade + 1 }, 'requesting the release');
  try {
    release = await requestRelease(round, total, committed.size, digest, deps);
  } catch (error) {
    if (isSecaggError(error, ...REFUSALS)) {
      await store.failRound(roundId, `keyholder refused the release: ${error.message}`, clock());
      await dropRound(roundId, ranges.length, deps);
      logger.warn({ roundId, reason: error.message }, 'round failed: release refused');
      return 'FAILED';
    }
    logger.warn({ roundId, err: error }, 'release not obtained yet (transient): retrying with backoff');
    throw error;
  }
  const recorded = await store.recordRelease(roundId, toBinary(ResultHeaderSchema, release.header), release.object, clock());
  if (recorded.objectName !== release.object.name) {
    logger.warn({ roundId, state: recorded.state, recorded: recorded.objectName }, 'another attempt finished the round first: its result stands, this one is deleted');
  }
  await dropRound(roundId, ranges.length, deps, recorded.objectName === '' ? [] : [recorded.objectName]);
  logger.info({ roundId, count: committed.size }, 'round released');
  return 'RELEASED';
}

/**
 * The encrypted total: the ranges' checkpoints, in range order, split into
 * ciphertexts. Each checkpoint is exactly its range's sum of every committed
 * update (range-progress.ts), so their concatenation is the round's sum.
 * Read one checkpoint at a time as the release stream asks for it, so the
 * finalizer holds one range (ciphertextsPerRange ciphertexts), not the whole
 * encrypted sum (160 MB for 10M coefficient-encoded values; issue 11's memory
 * bar). A checkpoint found missing or invalid ends the stream before its
 * trailer: the keyholder charges and decrypts only a complete sum, so nothing
 * is released and the job retries.
 */
async function* totalCiphertexts(round: RoundRecord, ranges: readonly CiphertextRange[], checkpointNames: string[], deps: AggregatorContext): AsyncGenerator<Buffer> {
  const format = formatOf(round.ckks);
  for (const [index, name] of checkpointNames.entries()) {
    const bytes = await deps.objects.get({ roundId: round.roundId, name });
    if (!bytes) throw new Error(`round ${round.roundId}: checkpoint ${name} of range ${index} is missing`);
    const expected = ranges[index]!.count * format.byteLength;
    if (bytes.byteLength !== expected) throw new Error(`round ${round.roundId}: checkpoint ${name} of range ${index} is ${bytes.byteLength} bytes, not ${expected}`);
    for (let at = 0; at < bytes.byteLength; at += format.byteLength) {
      const ciphertext = Buffer.from(bytes.buffer, bytes.byteOffset + at, format.byteLength);
      const verdict = validateCiphertext(format, ciphertext);
      if (!verdict.ok) throw new Error(`round ${round.roundId}: checkpoint ${name} holds an invalid ciphertext: ${verdict.reason}`);
      yield ciphertext;
    }
  }
}

/** Deletes what a finished round no longer needs: its objects but `keep` (the recorded result), commit log and range progress. */
async function dropRound(roundId: string, rangeCount: number, deps: AggregatorContext, keep: string[] = []): Promise<void> {
  await deps.objects.deleteRound(roundId, keep);
  await deps.store.dropWorkingSet(roundId, rangeCount);
}

async function requestRelease(
  round: RoundRecord,
  total: AsyncIterable<Buffer>,
  count: number,
  digest: Uint8Array,
  deps: AggregatorContext,
): Promise<{ header: ResultHeader; object: ResultObject }> {
  // The stream's own failure (a bad checkpoint) is what to report, not the cancelled call it causes.
  let readFailure: unknown;
  async function* frames(): AsyncGenerator<ReleaseRoundRequest> {
    yield {
      $typeName: 'secagg.keyholder.v1.ReleaseRoundRequest',
      frame: {
        case: 'header',
        value: {
          $typeName: 'secagg.keyholder.v1.ReleaseHeader',
          roundId: round.roundId,
          contributionCount: count,
          contributorsSha256: digest,
          ciphertextCount: round.ckks.ciphertextCount,
        },
      },
    };
    let index = 0;
    try {
      for await (const ciphertext of total) {
        yield {
          $typeName: 'secagg.keyholder.v1.ReleaseRoundRequest',
          frame: { case: 'chunk', value: { $typeName: 'secagg.keyholder.v1.ReleaseChunk', index: index++, ciphertext } },
        };
      }
    } catch (error) {
      readFailure = error;
      throw error;
    }
    if (index !== round.ckks.ciphertextCount) {
      readFailure = new Error(`round ${round.roundId}: checkpoints hold ${index} of ${round.ckks.ciphertextCount} ciphertexts`);
      throw readFailure;
    }
  }
  let header: ResultHeader | undefined;
  const result = await ResultWriter.open(deps.objects, round.roundId);
  try {
    try {
      for await (const response of deps.keyholder.releaseRound(frames(), { deadline: deps.config.keyholderDeadlineMs })) {
        if (response.frame.case === 'header') header = response.frame.value;
        else if (response.frame.case === 'values') await result.append(response.frame.value.sumF64le);
      }
    } catch (error) {
      throw readFailure ?? error;
    }
    if (readFailure) throw readFailure;
    if (!header) throw new Error('keyholder sent no result header');
    if (result.values !== round.config.vectorLength) throw new Error(`keyholder sent ${result.values} of ${round.config.vectorLength} values`);
    const object = await result.commit();
    return { header: fromBinary(ResultHeaderSchema, toBinary(ResultHeaderSchema, header)), object };
  } catch (error) {
    await result.abort();
    throw error;
  }
}
