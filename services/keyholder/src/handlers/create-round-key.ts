/**
 * CreateRoundKey: a fresh CKKS key pair for a round, its encoding scale chosen
 * so that no sum of max_clients clipped updates can wrap, and the round's
 * release policy recorded. Before any key exists it refuses (FAILED_PRECONDITION,
 * nothing stored):
 *  - a round whose min_clients is below the operator's floor;
 *  - a round whose DP noise would not flood the CKKS decryption error by
 *    config.minFloodingMarginBits (domain/flooding.ts);
 *  - replace-one accounting with Poisson sampling (not implemented);
 *  - a round its privacy group's budget cannot afford on top of every
 *    release already charged (domain/privacy-budget.ts).
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
import { budgetOf, costOf, privacyCostMessage, requireAffordable } from '../domain/privacy-budget.js';
import { admitRoundKey } from '../domain/release-policy.js';
import { requireSingleKeyholder } from '../domain/threshold.js';

export async function createRoundKey(request: CreateRoundKeyRequest, deps: KeyholderContext): Promise<CreateRoundKeyResponse> {
  const { config: settings, store, sealer, engines, clock } = deps;
  const roundId = checkRoundId(request.roundId);
  const config = checkRoundConfig(request.config, settings, clock());
  admitRoundKey(config, settings);
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
  const plan = planRoundPrivacy(config, params, settings.adjacency);
  if (!config.unsafeDisableNoise) requireFlooded(plan, params, config, settings.minFloodingMarginBits);
  if (plan.samplingRate < 1 && plan.adjacency === 'replace-one') {
    throw refuse(
      'sampling_needs_add_remove',
      'Poisson sampling (sampling_rate < 1) cannot be accounted under replace-one adjacency by this keyholder: ' +
        'use sampling_rate 1, or add-remove adjacency',
    );
  }
  const privacy = config.unsafeDisableNoise ? currentCost(config, plan, deps) : affordableCost(roundId, config, plan, deps);

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
 * Refuses a round whose noise would not drown the CKKS decryption error by
 * `minBits`: its release would leak information about the secret key
 * (Li & Micciancio 2021).
 */
export function requireFlooded(plan: RoundPrivacyPlan, params: CkksParams, config: RoundConfig, minBits: number): void {
  if (plan.floodingMarginBits >= minBits) return;
  const short = minBits - plan.floodingMarginBits;
  throw refuse(
    'flooding_margin_too_small',
    `flooding margin ${plan.floodingMarginBits.toFixed(1)} bits is below the keyholder's minimum ${minBits}: the noise sigma ` +
      `${plan.noise.sigma} does not exceed the CKKS decryption-error bound ${plan.decryptionErrorBound.toExponential(2)} ` +
      `(${params.preset}, ${params.encoding}, scale 2^${params.scaleBits}, ${config.maxClients} max clients) by 2^${minBits}, ` +
      `so the release would leak secret-key information. Add ${short.toFixed(1)} bits: raise the noise multiplier ` +
      `(x${(2 ** short).toPrecision(3)} would do), lower max_clients (each halving adds about 1.5 bits), ` +
      'or use a preset with a larger modulus',
  );
}

/** The round's cost against its group's ledger now, refusing if the budget cannot afford it. */
export function affordableCost(roundId: string, config: RoundConfig, plan: RoundPrivacyPlan, deps: KeyholderContext): PrivacyCost {
  const budget = budgetOf(deps.store, deps.config, privacyGroupOf(config));
  const ledger = deps.store.ledger(budget.privacyGroup);
  return privacyCostMessage(budget, plan, requireAffordable(budget, ledger, plan, roundId));
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
