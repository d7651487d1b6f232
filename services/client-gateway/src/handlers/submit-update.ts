/**
 * SubmitUpdate: header, ciphertext chunks in order, trailer. Each ciphertext
 * is validated in plain TypeScript before anything else happens to it, then
 * appended to a staged object of the ciphertext store (a file on the shared
 * volume, or an S3 multipart upload), invisible until committed. Only a
 * complete stream whose digest matches is made durable there and then
 * committed in Redis (atomically, once per client and round; the commit
 * appends the object's name to the round's commit log, which the
 * aggregators' range folds read); only then is the receipt sent. Redis holds
 * metadata only (issue 11).
 *
 * Idempotency: the same (client, update_id) after a commit returns the
 * original receipt. A stream whose commit lost (another id of the same
 * client, a closed round) leaves its object behind; it is never in the log,
 * and goes with the round's objects when the round is finished.
 *
 * Limits: after the header, the upload is admitted (UploadAdmission: stream
 * slots, fold backlog, a staged-bytes reservation of its whole size) before
 * any chunk is read; while it waits nothing is read, so flow control pauses
 * the client. Refusals are RESOURCE_EXHAUSTED with a `retry-after-ms` hint.
 * Once admitted it is never refused for a limit mid-stream. It must keep a
 * minimum rate: it has uploadGraceMs + size / minUploadBytesPerSecond from
 * its header to its trailer, else DEADLINE_EXCEEDED (`upload_too_slow`) and
 * its staging is discarded, so slow streams hold the budget for a bounded time.
 *
 * Durability: the receipt is sent only after the object is durable in the
 * ciphertext store (fdatasync + rename + directory fsync, or a completed PUT)
 * and then the commit script returned, i.e. (under the shipped Redis config,
 * appendfsync always) after the commit is in the fsynced AOF. A stream that
 * breaks at any point before that leaves nothing committed: its staged object
 * is aborted (a crash leaves it to the store's orphan collection).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { StagedObject } from '@secagg/ciphertext-store';
import { create } from '@bufbuild/protobuf';
import { refuse, type CallContext, type SecaggError } from '@secagg/core';
import { validateCiphertext } from '@secagg/ckks';
import { checkUpdateId, formatOf } from '@secagg/protocol';
import { SubmitUpdateResponseSchema, type SubmitUpdateRequest, type SubmitUpdateResponse, type UpdateHeader } from '@secagg/proto';
import type { CommittedUpdate, RoundRecord } from '@secagg/store';
import type { GatewayContext } from '../gateway-context.js';
import type { Principal } from '@secagg/auth';
import type { GatewayCall } from '../call-policy.js';
import type { UploadTicket } from '../domain/upload-admission.js';
import { framesOf } from '../domain/frames.js';
import { requireRound } from '../domain/rounds.js';
import { admitSampledClient } from '../domain/admission.js';

export async function submitUpdate(
  requests: AsyncIterable<SubmitUpdateRequest>,
  ctx: GatewayCall,
  deps: GatewayContext,
): Promise<SubmitUpdateResponse> {
  const { principal } = ctx;
  // The client going away, or the upload's own deadline once its size is known (receiveUpdate).
  const upload = new AbortController();
  const follow = () => upload.abort(ctx.signal.reason);
  if (ctx.signal.aborted) follow();
  else ctx.signal.addEventListener('abort', follow, { once: true });
  let deadline: NodeJS.Timeout | undefined;
  const setDeadline = (bytes: number) => {
    const ms = deps.config.uploadGraceMs + Math.ceil((bytes / deps.config.minUploadBytesPerSecond) * 1_000);
    deadline = setTimeout(
      () =>
        upload.abort(
          refuse(
            'upload_too_slow',
            `upload not finished within ${ms} ms of its header (slower than ${deps.config.minUploadBytesPerSecond} bytes/s); retry faster`,
          ),
        ),
      ms,
    );
  };
  try {
    // A stream slot before the first frame is read: a waiting upload holds nothing but its HTTP/2 window.
    const ticket = await deps.uploads.enter(principal.subject, upload.signal);
    let endedBy: unknown;
    try {
      return await receiveUpdate(requests, { ...ctx, signal: upload.signal }, deps, principal, ticket, setDeadline);
    } catch (error) {
      endedBy = error;
      throw error;
    } finally {
      // After any abort below: the budget is given back only once the staged bytes are gone (or committed).
      await ticket.release(endedBy);
    }
  } finally {
    clearTimeout(deadline);
    ctx.signal.removeEventListener('abort', follow);
  }
}

async function receiveUpdate(
  requests: AsyncIterable<SubmitUpdateRequest>,
  ctx: CallContext,
  deps: GatewayContext,
  principal: Principal,
  ticket: UploadTicket,
  setDeadline: (updateBytes: number) => void,
): Promise<SubmitUpdateResponse> {
  const { store, queues, config, logger } = deps;
  const frames = framesOf(requests, ctx.signal, config.streamIdleTimeoutMs);
  const first = await frames.next();
  if (first.done || first.value.frame.case !== 'header') {
    throw refuse('bad_framing', 'the first frame must be the update header');
  }
  const header = first.value.frame.value;
  const updateId = checkUpdateId(header.updateId);
  const round = await requireRound(store, header.roundId);
  const clientId = principal.subject;

  const earlier = await store.committedUpdateOf(round.roundId, clientId);
  if (earlier) return answerForEarlier(earlier, updateId, round, clientId);
  checkHeader(header, round);
  // Poisson client sampling (issue 3, domain/admission.ts): a client outside this round's sample is refused before any chunk.
  await admitSampledClient(store, round, clientId);

  const format = formatOf(round.ckks);
  const count = round.ckks.ciphertextCount;
  setDeadline(count * format.byteLength);
  await ticket.reserve(count * format.byteLength);
  const objectName = updateObjectName(clientId, ticket.stagingId);
  const staged: StagedObject = await deps.objects.stage({ roundId: round.roundId, name: objectName });
  const digest = createHash('sha256');
  let received = 0;
  let trailer: Uint8Array | undefined;
  let committed = false;
  try {
    for await (const request of frames) {
      const frame = request.frame;
      if (trailer) throw refuse('bad_framing', 'no frame may follow the trailer');
      if (frame.case === 'chunk') {
        const { index, ciphertext } = frame.value;
        if (index !== received) throw refuse('chunk_order', `chunk ${index} arrived where chunk ${received} was expected`);
        if (received >= count) throw refuse('chunk_count', `more than the ${count} chunks the header announced`);
        const verdict = validateCiphertext(format, ciphertext);
        if (!verdict.ok) throw refuse('bad_ciphertext', `chunk ${index}: ${verdict.reason}`);
        digest.update(ciphertext);
        // Appended in order, awaited before the next frame is read: HTTP/2 flow control paces the client.
        await staged.append(ciphertext);
        received++;
        await ticket.keepAlive();
      } else if (frame.case === 'trailer') {
        trailer = frame.value.sha256;
      } else {
        throw refuse('bad_framing', 'only chunk frames and one trailer may follow the header');
      }
    }
    if (!trailer) throw refuse('bad_framing', 'the stream ended without a trailer');
    if (received !== count) throw refuse('chunk_count', `received ${received} of ${count} chunks`);
    const sha256 = digest.digest();
    if (trailer.length !== 32 || !timingSafeEqual(sha256, trailer)) {
      throw refuse('digest_mismatch', 'trailer sha256 does not match the ciphertext bytes received');
    }
    // Durable before Redis records it: a committed update's bytes always exist.
    await staged.commit();
    committed = true;
    const outcome = await store.commitUpdate({
      roundId: round.roundId,
      clientId,
      updateId,
      objectName,
      sha256: sha256.toString('hex'),
      count,
    });
    if (outcome.kind !== 'committed') {
      // Not in the log, so nothing will ever read it: delete it now rather than with the round.
      await deps.objects.delete({ roundId: round.roundId, name: objectName }).catch(() => false);
    }
    switch (outcome.kind) {
      case 'committed':
        if (outcome.closedNow && config.testKillAfterClosingCommit) crashForTest(logger);
        if (outcome.closedNow) await queues.enqueueFinalize(round.roundId);
        logger.info({ roundId: round.roundId, updateId, clientId, closedNow: outcome.closedNow }, 'update committed');
        return receipt(round.roundId, clientId, { updateId, sha256: sha256.toString('hex'), count, committedMs: outcome.committedMs });
      case 'exists':
        return answerForEarlier(outcome.update, updateId, round, clientId);
      case 'client-has-update':
        throw alreadyExists(round.roundId, outcome.otherUpdateId);
      case 'not-found':
        throw refuse('round_not_found', `round ${round.roundId} does not exist`);
      case 'not-open':
        throw notOpen(round.roundId, outcome.state);
      case 'past-deadline':
        // The commit script closed the round by Redis's clock: make sure it gets finalized.
        await queues.enqueueFinalize(round.roundId);
        throw refuse('round_past_deadline', `round ${round.roundId} is past its deadline, not accepting updates`);
      default:
        return assertNever(outcome);
    }
  } catch (error) {
    // A commit in Redis may or may not have happened (a lost reply): a committed object stays, and goes with its round.
    if (!committed) await staged.abort();
    throw error;
  }
}

/**
 * The ciphertext object of one upload attempt: unique per stream (so a commit
 * never replaces bytes a reader may use), and without the client's name (a
 * digest of it: object names show in file listings and bucket logs).
 */
function updateObjectName(clientId: string, stagingId: string): string {
  return `u-${createHash('sha256').update(clientId).digest('hex').slice(0, 16)}-${stagingId}`;
}

function checkHeader(header: UpdateHeader, round: RoundRecord): void {
  if (round.state !== 'OPEN') throw notOpen(round.roundId, round.state);
  if (header.vectorLength !== round.config!.vectorLength) {
    throw refuse('vector_length', `vector_length ${header.vectorLength} != the round's ${round.config!.vectorLength}`);
  }
  if (header.ciphertextCount !== round.ckks.ciphertextCount) {
    throw refuse('chunk_count', `ciphertext_count ${header.ciphertextCount} != the round's ${round.ckks.ciphertextCount}`);
  }
}

function answerForEarlier(earlier: CommittedUpdate, updateId: string, round: RoundRecord, clientId: string): SubmitUpdateResponse {
  if (earlier.updateId !== updateId) throw alreadyExists(round.roundId, earlier.updateId);
  return receipt(round.roundId, clientId, earlier);
}

function receipt(roundId: string, clientId: string, update: CommittedUpdate): SubmitUpdateResponse {
  return create(SubmitUpdateResponseSchema, {
    receipt: {
      roundId,
      updateId: update.updateId,
      clientId,
      ciphertextCount: update.count,
      sha256: Buffer.from(update.sha256, 'hex'),
      committedUnixMs: BigInt(update.committedMs),
    },
  });
}

function alreadyExists(roundId: string, otherUpdateId: string): SecaggError {
  return refuse('client_has_update', `this client already committed update ${otherUpdateId} to round ${roundId}`);
}

function notOpen(roundId: string, state: string): SecaggError {
  return refuse('round_not_open', `round ${roundId} is ${state}, not accepting updates`);
}

/**
 * TEST ONLY (`testKillAfterClosingCommit`): the gateway dies (SIGKILL, no
 * cleanup) right after the commit that reached max_clients closed the round,
 * before queueing anything: the crash the sweeper must recover from (issue 12 item 4).
 */
function crashForTest(logger: GatewayContext['logger']): never {
  logger.warn('TEST ONLY: killing this gateway after the commit that closed the round (GATEWAY_TEST_KILL_AFTER_CLOSING_COMMIT)');
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL sent to self');
}

function assertNever(value: never): never {
  throw new Error(`unexpected commit outcome ${JSON.stringify(value)}`);
}
