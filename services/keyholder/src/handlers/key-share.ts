/**
 * CreateKeyShare and SignCollectiveKey: a committee keyholder's part of a
 * round's collective key (issue 16; packages/ckks multiparty.ts).
 *
 * CreateKeyShare { round_id, config } → { ckks, public_key_share, index, privacy }.
 * The release policy admits the round as for CreateRoundKey
 * (domain/release-policy.ts admitRoundKey: this keyholder's own settings
 * and ledger; the flooding margin under the collective key), plus the
 * committee rules (domain/threshold.ts). Then a fresh
 * secret share sᵢ is sealed and stored as the round's key, and
 * pᵢ = −(a·sᵢ + eᵢ) for the round's common random polynomial is returned
 * (and stored in place of a public key). Idempotent on round id with an
 * identical config: the same share.
 *
 * SignCollectiveKey { round_id, public_key_shares } → { public_key, attestation }.
 * Checks the shares' count and format and that its own share is at its place,
 * sums them into the round's public key, and signs the RoundStatement that
 * lists every share's SHA-256: clients require every keyholder's signature
 * over those same bytes, so a key that leaves out (or cancels) an honest
 * keyholder's share never gets its signature. Stores nothing; idempotent.
 */
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timingSafeEqual } from 'node:crypto';
import { refuse } from '@secagg/core';
import {
  aggregatePublicKey,
  ciphertextByteLength,
  ciphertextCount,
  collectiveKeySeed,
  commonRandomPolynomial,
  validatePublicKeyShare,
  valuesPerCiphertext,
  type CkksParams,
} from '@secagg/ckks';
import { checkRoundConfig, checkRoundId, encodingEnum, isVoteRound, newDealingKey, roundStatementBytes, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  CreateKeyShareResponseSchema,
  RoundConfigSchema,
  SignCollectiveKeyResponseSchema,
  type CreateKeyShareRequest,
  type CreateKeyShareResponse,
  type SignCollectiveKeyRequest,
  type SignCollectiveKeyResponse,
  type SignedDealingKey,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { planRoundPrivacy } from '../domain/privacy-plan.js';
import { committeeScaleBits, requireCommitteeMember } from '../domain/threshold.js';
import { admittedCost, currentCost, presetAndEncodingOf } from './create-round-key.js';

export async function createKeyShare(request: CreateKeyShareRequest, deps: KeyholderContext): Promise<CreateKeyShareResponse> {
  const { config: settings, store, sealer, engines, clock } = deps;
  const roundId = checkRoundId(request.roundId);
  const config = checkRoundConfig(request.config, settings, clock());
  const { preset, encoding } = presetAndEncodingOf(config, deps.defaultEncoding);
  const committee = requireCommitteeMember(config, settings, encoding, isVoteRound(config));

  const existing = store.getRoundKey(roundId);
  if (existing) {
    if (!equals(RoundConfigSchema, fromBinary(RoundConfigSchema, existing.config), config)) {
      throw refuse('round_key_conflict', `round ${roundId} already has a key share with another configuration`);
    }
    const ckks = fromBinary(CkksParametersSchema, existing.ckks);
    const plan = planRoundPrivacy(config, toCkksParams(ckks), settings.adjacency);
    return create(CreateKeyShareResponseSchema, {
      ckks,
      publicKeyShare: existing.publicKey,
      keyholderIndex: committee.index,
      privacy: currentCost(config, plan, deps),
      dealingKey: deps.dealings?.get(roundId)?.signed,
    });
  }

  const count = ciphertextCount({ preset, encoding, scaleBits: 1 }, config.vectorLength);
  let scaleBits: number;
  try {
    scaleBits = committeeScaleBits(preset, encoding, config, committee.size, count);
  } catch (error) {
    throw refuse('no_safe_scale', `no safe encoding scale: ${(error as Error).message}`, { cause: error });
  }
  const params: CkksParams = { preset, encoding, scaleBits };
  const privacy = admittedCost(roundId, config, params, deps);

  const engine = await engines.get(params);
  const crp = commonRandomPolynomial(preset, collectiveKeySeed(roundId));
  const { publicShare, secretShare } = engine.generateKeyShare(crp);
  const sealed = sealer.seal(secretShare, roundId);
  secretShare.fill(0);
  const ckks = create(CkksParametersSchema, {
    preset,
    encoding: encodingEnum(encoding),
    scaleBits,
    valuesPerCiphertext: valuesPerCiphertext(params),
    ciphertextBytes: ciphertextByteLength(params),
    ciphertextCount: count,
  });
  const inserted = store.insertRoundKey({
    roundId,
    config: toBinary(RoundConfigSchema, config),
    ckks: toBinary(CkksParametersSchema, ckks),
    publicKey: publicShare,
    sealedSecretKey: sealed,
    createdMs: clock(),
  });
  if (!inserted) return createKeyShare(request, deps); // lost a race with an identical call
  let dealingKey: SignedDealingKey | undefined;
  if (committee.threshold < committee.size) {
    // t-of-n: a dealing key for the Shamir shares of sᵢ, in memory only (key-dealing.ts).
    const dealing = { ...newDealingKey(deps.signer, roundId, committee.index), createdMs: clock() };
    deps.dealings?.set(roundId, dealing);
    dealingKey = dealing.signed;
  }
  deps.logger.info(
    { roundId, preset, scaleBits, keyholderIndex: committee.index, committee: committee.size, floodingMarginBits: privacy.floodingMarginBits },
    'round key share created',
  );
  return create(CreateKeyShareResponseSchema, { ckks, publicKeyShare: publicShare, keyholderIndex: committee.index, privacy, dealingKey });
}

export function signCollectiveKey(request: SignCollectiveKeyRequest, deps: KeyholderContext): SignCollectiveKeyResponse {
  const roundId = checkRoundId(request.roundId);
  const key = deps.store.getRoundKey(roundId);
  if (!key) throw refuse('no_round_key', `no key share for round ${roundId}`);
  const config = fromBinary(RoundConfigSchema, key.config);
  const ckks = fromBinary(CkksParametersSchema, key.ckks);
  const committee = requireCommitteeMember(config, deps.config, toCkksParams(ckks).encoding, isVoteRound(config));
  if (committee.threshold < committee.size && !deps.store.isKeyShareDealt(roundId)) {
    throw refuse('not_dealt', `round ${roundId}'s key shares are not dealt yet: a t-of-n key is signed after the dealing`);
  }
  const shares = request.publicKeyShares;
  if (shares.length !== committee.size) {
    throw refuse('bad_key_share', `${shares.length} public key shares for a committee of ${committee.size}`);
  }
  const preset = toCkksParams(ckks).preset;
  shares.forEach((share, i) => {
    const v = validatePublicKeyShare(preset, share);
    if (!v.ok) throw refuse('bad_key_share', `public key share ${i + 1}: ${v.reason}`);
  });
  const own = shares[committee.index - 1]!;
  if (own.length !== key.publicKey.length || !timingSafeEqual(own, key.publicKey)) {
    throw refuse('foreign_key_share', `public key share ${committee.index} is not this keyholder's share of round ${roundId}`);
  }
  const publicKey = aggregatePublicKey(preset, commonRandomPolynomial(preset, collectiveKeySeed(roundId)), shares);
  const attestation = deps.signer.sign(roundStatementBytes({ roundId, config, ckks, publicKey, keyShares: shares }));
  deps.logger.info({ roundId, keyholderIndex: committee.index, signingKeyId: deps.signer.keyId }, 'collective key signed');
  return create(SignCollectiveKeyResponseSchema, { publicKey, attestation });
}
