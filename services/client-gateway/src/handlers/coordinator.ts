/**
 * The coordinator API: create, close, list and inspect rounds. CreateRound
 * relays the keyholder's privacy cost (epsilon of the round, the group after
 * it, the flooding margin) in its response.
 *
 * Ownership (domain/ownership.ts): the creating coordinator owns the round and
 * must own (or first claim) its privacy group; only the owner closes a round;
 * ListRounds shows a coordinator its own rounds, an operator every round.
 * Refusals are PERMISSION_DENIED and change nothing.
 */
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { forwardedMetadata, refuse } from '@secagg/core';
import { checkRoundConfig, keyholderTopology, privacyGroupOf } from '@secagg/protocol';
import {
  CloseRoundResponseSchema,
  CreateRoundResponseSchema,
  GetRoundStatusResponseSchema,
  ListRoundsResponseSchema,
  type CloseRoundRequest,
  type CloseRoundResponse,
  type CreateRoundRequest,
  type CreateRoundResponse,
  type GetRoundStatusRequest,
  type GetRoundStatusResponse,
  type ListRoundsRequest,
  type ListRoundsResponse,
} from '@secagg/proto';
import { toRoundMessage } from '@secagg/store';
import type { GatewayContext } from '../gateway-context.js';
import type { GatewayCall } from '../call-policy.js';
import { requireRound } from '../domain/rounds.js';
import { claimGroupFor, requireRoundOwner } from '../domain/ownership.js';

export async function createRound(request: CreateRoundRequest, ctx: GatewayCall, deps: GatewayContext): Promise<CreateRoundResponse> {
  const { principal } = ctx;
  const now = deps.clock();
  // The keyholder committee (if any) is the deployment's, not the coordinator's to choose; it is part of the signed statement.
  const config = { ...checkRoundConfig(request.config, deps.config, now), keyholders: keyholderTopology(deps.config).committee };
  const roundId = `r-${randomBytes(9).toString('base64url')}`;
  // A round spends its group's budget: the group must be the caller's (claimed now if new).
  const claim = await claimGroupFor(deps.store, principal, privacyGroupOf(config), 'create rounds in it', deps.logger);
  let key;
  try {
    key = await deps.keyholder.createRoundKey(
      { roundId, config },
      { deadline: deps.config.keyholderDeadlineMs, metadata: forwardedMetadata(ctx) },
    );
    if (!key.ckks) throw refuse('bad_peer_reply', 'keyholder returned no CKKS parameters');
    // The attestation is the keyholder's signature over the round's key and parameters: stored and served as is (clients verify it).
    if (!key.attestation) throw refuse('bad_peer_reply', 'keyholder returned no round attestation');
    await deps.store.createRound({
      roundId,
      owner: principal.subject,
      config,
      ckks: key.ckks,
      publicKey: key.publicKey,
      attestation: key.attestation,
      createdMs: now,
    });
  } catch (error) {
    await claim.undo();
    throw error;
  }
  await deps.queues.scheduleClose(roundId, Number(config.deadlineUnixMs) - now);
  deps.logger.info(
    {
      roundId,
      vectorLength: config.vectorLength,
      minClients: config.minClients,
      maxClients: config.maxClients,
      privacyGroup: key.privacy?.privacyGroup,
      roundEpsilon: key.privacy?.roundEpsilon,
    },
    'round created',
  );
  const round = await requireRound(deps.store, roundId);
  return create(CreateRoundResponseSchema, { round: toRoundMessage(round), privacy: key.privacy });
}

export async function closeRound(request: CloseRoundRequest, ctx: GatewayCall, deps: GatewayContext): Promise<CloseRoundResponse> {
  const { principal } = ctx;
  const round = await requireRound(deps.store, request.roundId);
  requireRoundOwner(principal, round, 'close');
  const state = await deps.store.closeRound(round.roundId);
  if (state === 'CLOSED') await deps.queues.enqueueFinalize(round.roundId);
  deps.logger.info({ roundId: round.roundId, state }, 'round close requested');
  return create(CloseRoundResponseSchema, { round: toRoundMessage(await requireRound(deps.store, round.roundId)) });
}

export async function listRounds(request: ListRoundsRequest, ctx: GatewayCall, deps: GatewayContext): Promise<ListRoundsResponse> {
  const { principal } = ctx;
  if (request.limit > 1_000) throw refuse('bad_page_size', 'limit must be <= 1000');
  const limit = request.limit || 50;
  const ids =
    principal.role === 'operator' ? await deps.store.listRoundIds(limit) : await deps.store.listRoundIdsOwnedBy(principal.subject, limit);
  const rounds = (await Promise.all(ids.map((id) => deps.store.getRound(id)))).filter((r) => r !== undefined);
  return create(ListRoundsResponseSchema, { rounds: rounds.map(toRoundMessage) });
}

export async function getRoundStatus(request: GetRoundStatusRequest, _ctx: GatewayCall, deps: GatewayContext): Promise<GetRoundStatusResponse> {
  return create(GetRoundStatusResponseSchema, { round: toRoundMessage(await requireRound(deps.store, request.roundId)) });
}
