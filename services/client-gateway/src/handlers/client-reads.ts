/** GetRound and GetResult: what clients and coordinators read. */
import { create, fromBinary } from '@bufbuild/protobuf';
import { refuse } from '@secagg/core';
import { bytesToFloat64, float64ToBytes, MAX_RESULT_VALUES_PER_MESSAGE } from '@secagg/protocol';
import {
  GetResultResponseSchema,
  GetRoundResponseSchema,
  ResultHeaderSchema,
  type GetResultRequest,
  type GetResultResponse,
  type GetRoundRequest,
  type GetRoundResponse,
} from '@secagg/proto';
import { toRoundMessage, type RoundRecord } from '@secagg/store';
import type { GatewayContext } from '../gateway-context.js';
import type { GatewayCall } from '../call-policy.js';
import { requireRound } from '../domain/rounds.js';
import { verifiedResultValues } from '../domain/result-object.js';

export async function getRound(request: GetRoundRequest, _ctx: GatewayCall, deps: GatewayContext): Promise<GetRoundResponse> {
  const round = await requireRound(deps.store, request.roundId);
  const [publicKey, attestation] = await Promise.all([deps.store.getPublicKey(round.roundId), deps.store.getAttestation(round.roundId)]);
  if (!publicKey) throw refuse('inconsistent_state', `round ${round.roundId} has no public key`);
  return create(GetRoundResponseSchema, { round: toRoundMessage(round), publicKey, attestation });
}

export async function* getResult(request: GetResultRequest, ctx: GatewayCall, deps: GatewayContext): AsyncGenerator<GetResultResponse> {
  const { principal } = ctx;
  const round = await requireRound(deps.store, request.roundId);
  if (round.state === 'FAILED') {
    throw refuse('round_failed', `round ${round.roundId} failed: ${round.reason}`);
  }
  if (round.state !== 'RELEASED') {
    throw refuse('not_released', `round ${round.roundId} is ${round.state}; its result is not released yet`);
  }
  if (request.valuesPerMessage > MAX_RESULT_VALUES_PER_MESSAGE) {
    throw refuse('bad_page_size', `values_per_message must be <= ${MAX_RESULT_VALUES_PER_MESSAGE} (a message must fit a stock 4 MiB gRPC limit)`);
  }
  const perMessage = request.valuesPerMessage || deps.config.resultValuesPerMessage;
  const release = deps.results.acquire(principal.subject);
  try {
    yield* resultMessages(round, perMessage, deps);
  } finally {
    release();
  }
}

/**
 * The result of a released round: its header, then its values re-sliced into
 * messages of `perMessage`, read from the ciphertext store and checked against
 * their record before the header goes (domain/result-object.ts). A round
 * released by a version that kept the sum in Redis is read from there.
 */
async function* resultMessages(round: RoundRecord, perMessage: number, deps: GatewayContext): AsyncGenerator<GetResultResponse> {
  const roundId = round.roundId;
  const recorded = await deps.store.readResult(roundId);
  if (!recorded) throw refuse('inconsistent_state', `round ${roundId} is released but has no result header`);
  const header = fromBinary(ResultHeaderSchema, recorded.header);
  const values = recorded.object
    ? verifiedResultValues(deps.objects, roundId, recorded.object, round.config.vectorLength)
    : legacyResultValues(roundId, round.config.vectorLength, deps);
  try {
    // The check runs before the first value: pull it before anything is sent, so a bad object sends nothing.
    let next = await values.next();
    yield create(GetResultResponseSchema, { frame: { case: 'header', value: header } });

    const count = header.contributionCount;
    let pending = new Float64Array(0);
    let offset = 0;
    const emit = (run: Float64Array) => {
      const mean = run.map((v) => v / count);
      const message = create(GetResultResponseSchema, {
        frame: { case: 'values', value: { offset, sumF64le: float64ToBytes(run), meanF64le: float64ToBytes(mean) } },
      });
      offset += run.length;
      return message;
    };
    for (; !next.done; next = await values.next()) {
      const block = next.value;
      const joined = new Float64Array(pending.length + block.length);
      joined.set(pending);
      joined.set(block, pending.length);
      let start = 0;
      for (; joined.length - start >= perMessage; start += perMessage) yield emit(joined.slice(start, start + perMessage));
      pending = joined.slice(start);
    }
    if (pending.length > 0) yield emit(pending);
  } finally {
    // A download cancelled mid-way closes the object's read.
    await values.return(undefined);
  }
}

/** The sum of a round released before results moved to the ciphertext store, from its Redis runs; refused unless complete. */
async function* legacyResultValues(roundId: string, vectorLength: number, deps: GatewayContext): AsyncGenerator<Float64Array> {
  let received = 0;
  for await (const run of deps.store.legacyResultRuns(roundId)) {
    const values = bytesToFloat64(run);
    received += values.length;
    yield values;
  }
  if (received !== vectorLength) throw refuse('inconsistent_state', `round ${roundId} is released but its result holds ${received} of ${vectorLength} values`);
}
