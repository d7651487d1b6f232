/**
 * DealKeyShares and AcceptKeyShares: the key dealing of a t-of-n committee
 * (issue 16; packages/ckks multiparty.ts for the arithmetic, protocol's
 * key-dealing.ts for the channel).
 *
 * DealKeyShares { round_id, dealing_keys[n] } → { encrypted_shares[n] }.
 * Verifies every dealing key against the committee's pinned verification
 * keys, Shamir-splits this keyholder's sealed secret share sᵢ (threshold t,
 * points 1..n) and seals fᵢ(j) to keyholder j's dealing key; keeps fᵢ(i) in
 * memory. One-shot: the dealing state is in memory only, so a repeat or a
 * restart since CreateKeyShare is refused (the round is created anew).
 *
 * AcceptKeyShares { round_id, dealing_keys[n], encrypted_shares[n] } → {}.
 * Opens fⱼ(i) from every other keyholder j, checks each is a well-formed key,
 * and stores σᵢ = Σⱼ fⱼ(i) sealed in place of sᵢ (the round's key share from
 * then on), forgetting the dealing state.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import { refuse } from '@secagg/core';
import { addSecretKeys, shamirSplitSecretKey, validateSecretKey } from '@secagg/ckks';
import { checkRoundId, isVoteRound, openDealtShare, sealDealtShare, toCkksParams, verifyDealingKey } from '@secagg/protocol';
import {
  AcceptKeySharesResponseSchema,
  CkksParametersSchema,
  DealKeySharesResponseSchema,
  RoundConfigSchema,
  type AcceptKeySharesRequest,
  type AcceptKeySharesResponse,
  type DealKeySharesRequest,
  type DealKeySharesResponse,
  type SignedDealingKey,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { requireCommitteeMember, requireShamirCommittee, type Committee, type KeyDealing } from '../domain/threshold.js';

function dealingState(roundId: string, deps: KeyholderContext): { committee: Committee; preset: ReturnType<typeof toCkksParams>['preset']; dealing: KeyDealing } {
  const key = deps.store.getRoundKey(roundId);
  if (!key) throw refuse('no_round_key', `no key share for round ${roundId}`);
  const config = fromBinary(RoundConfigSchema, key.config);
  const params = toCkksParams(fromBinary(CkksParametersSchema, key.ckks));
  const committee = requireCommitteeMember(config, deps.config, params.encoding, isVoteRound(config));
  requireShamirCommittee(committee);
  if (deps.store.isKeyShareDealt(roundId)) {
    throw refuse('already_dealt', `round ${roundId}'s key shares were dealt already`);
  }
  const dealing = deps.dealings?.get(roundId);
  if (!dealing || key.status !== 'ready') {
    throw refuse(
      'dealing_state_lost',
      `round ${roundId}'s key dealing state is gone (this keyholder restarted since CreateKeyShare): create the round again`,
    );
  }
  return { committee, preset: params.preset, dealing };
}

/** Every keyholder's dealing key, verified against its pinned verification key. */
function verifiedDealingKeys(roundId: string, keys: readonly SignedDealingKey[], committee: Committee, deps: KeyholderContext): Uint8Array[] {
  const pinned = deps.committeeKeys;
  if (!pinned || pinned.length !== committee.size) throw refuse('misconfigured', 'the committee verification keys are not configured');
  if (keys.length !== committee.size) throw refuse('bad_key_share', `${keys.length} dealing keys for a committee of ${committee.size}`);
  return keys.map((signed, i) => verifyDealingKey(signed, roundId, i + 1, pinned[i]!));
}

export function dealKeyShares(request: DealKeySharesRequest, deps: KeyholderContext): DealKeySharesResponse {
  const roundId = checkRoundId(request.roundId);
  const { committee, preset, dealing } = dealingState(roundId, deps);
  if (dealing.ownShare) throw refuse('already_dealt', `round ${roundId}'s key shares were dealt already`);
  const peers = verifiedDealingKeys(roundId, request.dealingKeys, committee, deps);
  const ids = peers.map((_, i) => i + 1);
  const secretShare = deps.sealer.unseal(deps.store.getSealedKey(roundId)!, roundId);
  let shares: Uint8Array[];
  try {
    shares = shamirSplitSecretKey(preset, secretShare, ids, committee.threshold);
  } finally {
    secretShare.fill(0);
  }
  const encryptedShares = shares.map((share, j) => {
    if (j + 1 === committee.index) return new Uint8Array(0);
    try {
      return sealDealtShare(dealing.privateKey, peers[j]!, roundId, committee.index, j + 1, share);
    } finally {
      share.fill(0);
    }
  });
  dealing.ownShare = shares[committee.index - 1]!;
  deps.logger.info({ roundId, keyholderIndex: committee.index, threshold: committee.threshold }, 'key share dealt');
  return create(DealKeySharesResponseSchema, { encryptedShares });
}

export function acceptKeyShares(request: AcceptKeySharesRequest, deps: KeyholderContext): AcceptKeySharesResponse {
  const roundId = checkRoundId(request.roundId);
  const { committee, preset, dealing } = dealingState(roundId, deps);
  if (!dealing.ownShare) throw refuse('not_dealt', `round ${roundId}: this keyholder has not dealt its own shares yet`);
  const peers = verifiedDealingKeys(roundId, request.dealingKeys, committee, deps);
  if (request.encryptedShares.length !== committee.size) {
    throw refuse('bad_key_share', `${request.encryptedShares.length} dealt shares for a committee of ${committee.size}`);
  }
  const received = request.encryptedShares.flatMap((sealed, i) => {
    if (i + 1 === committee.index) return [];
    const share = openDealtShare(dealing.privateKey, peers[i]!, roundId, i + 1, committee.index, sealed);
    const v = validateSecretKey(preset, share);
    if (!v.ok) throw refuse('bad_key_share', `the share dealt by keyholder ${i + 1}: ${v.reason}`);
    return [share];
  });
  const sigma = addSecretKeys(preset, [dealing.ownShare, ...received]);
  try {
    if (!deps.store.storeDealtKeyShare(roundId, deps.sealer.seal(sigma, roundId))) {
      throw refuse('share_not_replaceable', `round ${roundId}'s key share is no longer ready to be replaced`);
    }
  } finally {
    sigma.fill(0);
    for (const share of received) share.fill(0);
    dealing.ownShare.fill(0);
    deps.dealings?.delete(roundId);
  }
  deps.logger.info({ roundId, keyholderIndex: committee.index }, 'dealt key shares accepted');
  return create(AcceptKeySharesResponseSchema, {});
}
