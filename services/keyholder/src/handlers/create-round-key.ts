/**
 * CreateRoundKey: a fresh CKKS key pair for a round, its encoding scale chosen
 * so that no sum of max_clients clipped updates can wrap, and the round's
 * release policy recorded. Before any key exists the release policy admits
 * the round (domain/release-policy.ts admitRoundKey; FAILED_PRECONDITION,
 * nothing stored, otherwise): a noise-free round only where allowed; its
 * min_clients at least the operator's floor; DP noise that floods the CKKS
 * decryption error by config.minFloodingMarginBits (domain/flooding.ts); no
 * Poisson sampling under replace-one accounting; a cost its privacy group's
 * budget affords on top of every release already charged.
 * The response carries the round's privacy cost and its attestation: a
 * RoundStatement (round id, config, CKKS parameters, SHA-256 of the public
 * key) signed with the keyholder's signing key, which clients verify before
 * encrypting (issue 10). Idempotent on round id with an identical config (the
 * cost is recomputed against the current ledger; the statement is rebuilt from
 * the stored round and signed by the current signing key).
 * Test-only noise-free rounds skip the flooding and budget checks: their
 * release is charged epsilon = +Infinity.
 */
import { create, equals, toBinary, fromBinary } from '@bufbuild/protobuf';
import { refuse } from '@secagg/core';
import {
  chooseScaleBits,
  ciphertextByteLength,
  ciphertextCount,
  DEFAULT_PRESET,
  isPresetName,
  valuesPerCiphertext,
  type CkksParams,
  type Encoding as EncodingName,
  type PresetName,
} from '@secagg/ckks';
import { checkRoundConfig, checkRoundId, coordinateBoundOf, encodingEnum, encodingName, privacyGroupOf, roundStatementBytes, toCkksParams } from '@secagg/protocol';
import {
  CkksParametersSchema,
  CreateRoundKeyResponseSchema,
  Encoding,
  RoundConfigSchema,
  type CreateRoundKeyRequest,
  type CreateRoundKeyResponse,
  type PrivacyCost,
  type RoundConfig,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';
import { planRoundPrivacy, type RoundPrivacyPlan } from '../domain/privacy-plan.js';
import { budgetOf, costOf, privacyCostMessage } from '../domain/privacy-budget.js';
import { admitRoundKey, enforce } from '../domain/release-policy.js';
import { requireSingleKeyholder } from '../domain/threshold.js';

export async function createRoundKey(request: CreateRoundKeyRequest, deps: KeyholderContext): Promise<CreateRoundKeyResponse> {
  const { config: settings, store, sealer, engines, clock } = deps;
  const roundId = checkRoundId(request.roundId);
  const config = checkRoundConfig(request.config, settings, clock());
  requireSingleKeyholder(config, settings);

  const existing = store.getRoundKey(roundId);
  if (existing) {
    if (!equals(RoundConfigSchema, fromBinary(RoundConfigSchema, existing.config), config)) {
      throw refuse('round_key_conflict', `round ${roundId} already has a key with another configuration`);
    }
    const ckks = fromBinary(CkksParametersSchema, existing.ckks);
    const plan = planRoundPrivacy(config, toCkksParams(ckks), settings.adjacency);
    const attestation = deps.signer.sign(roundStatementBytes({ roundId, config, ckks, publicKey: existing.publicKey }));
    return create(CreateRoundKeyResponseSchema, { ckks, publicKey: existing.publicKey, privacy: currentCost(config, plan, deps), attestation });
  }

  const { preset, encoding } = presetAndEncodingOf(config, deps.defaultEncoding);
  let scaleBits: number;
  try {
    scaleBits = chooseScaleBits(preset, encoding, config.maxClients, coordinateBoundOf(config));
  } catch (error) {
    throw refuse('no_safe_scale', `no safe encoding scale: ${(error as Error).message}`, { cause: error });
  }
  const params: CkksParams = { preset, encoding, scaleBits };
  const privacy = admittedCost(roundId, config, params, deps);

  const engine = await engines.get(params);
  const { publicKey, secretKey } = engine.generateKeyPair();
  const sealed = sealer.seal(secretKey, roundId);
  secretKey.fill(0);

  const ckks = create(CkksParametersSchema, {
    preset,
    encoding: encodingEnum(encoding),
    scaleBits,
    valuesPerCiphertext: valuesPerCiphertext(params),
    ciphertextBytes: ciphertextByteLength(params),
    ciphertextCount: ciphertextCount(params, config.vectorLength),
  });
  const inserted = store.insertRoundKey({
    roundId,
    config: toBinary(RoundConfigSchema, config),
    ckks: toBinary(CkksParametersSchema, ckks),
    publicKey,
    sealedSecretKey: sealed,
    createdMs: clock(),
  });
  if (!inserted) return createRoundKey(request, deps); // lost a race with an identical call
  deps.logger.info(
    {
      roundId,
      preset,
      encoding,
      scaleBits,
      privacyGroup: privacy.privacyGroup,
      roundEpsilon: privacy.roundEpsilon,
      groupEpsilonAfter: privacy.groupEpsilonAfter,
      floodingMarginBits: privacy.floodingMarginBits,
      signingKeyId: deps.signer.keyId,
    },
    'round key created',
  );
  const attestation = deps.signer.sign(roundStatementBytes({ roundId, config, ckks, publicKey }));
  return create(CreateRoundKeyResponseSchema, { ckks, publicKey, privacy, attestation });
}

/**
 * The release policy's admission of a new round key with `params`
 * (admitRoundKey), against its group's ledger now: the round's cost, or the
 * refusal thrown. Shared by CreateRoundKey and CreateKeyShare.
 */
export function admittedCost(roundId: string, config: RoundConfig, params: CkksParams, deps: KeyholderContext): PrivacyCost {
  const plan = planRoundPrivacy(config, params, deps.config.adjacency);
  const budget = budgetOf(deps.store, deps.config, privacyGroupOf(config));
  const cost = enforce(admitRoundKey({ roundId, config, plan, budget }, params, deps.store.ledger(budget.privacyGroup), deps.config));
  return privacyCostMessage(budget, plan, cost);
}

/** The round's cost against its group's ledger now, without refusing (idempotent repeats, noise-free rounds): the release re-checks. */
export function currentCost(config: RoundConfig, plan: RoundPrivacyPlan, deps: KeyholderContext): PrivacyCost {
  const budget = budgetOf(deps.store, deps.config, privacyGroupOf(config));
  const ledger = deps.store.ledger(budget.privacyGroup);
  const cost = costOf(budget, ledger, plan);
  return privacyCostMessage(budget, plan, config.unsafeDisableNoise ? { ...cost, roundEpsilon: Infinity, groupEpsilonAfter: Infinity } : cost);
}

/** The round's preset (the default when empty; refused when unknown) and encoding (the keyholder's default when unspecified). */
export function presetAndEncodingOf(config: RoundConfig, defaultEncoding: Encoding): { preset: PresetName; encoding: EncodingName } {
  const preset = config.preset === '' ? DEFAULT_PRESET : config.preset;
  if (!isPresetName(preset)) throw refuse('bad_preset', `config.preset "${preset}" is unknown`);
  return { preset, encoding: encodingName(config.encoding === Encoding.UNSPECIFIED ? defaultEncoding : config.encoding) };
}
