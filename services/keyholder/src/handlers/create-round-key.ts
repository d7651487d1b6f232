/**
 * CreateRoundKey: a fresh CKKS key pair for a round, its encoding scale chosen
 * so that no sum of max_clients clipped updates can wrap, and the round's
 * release policy recorded. Idempotent on round id with an identical config.
 */
import { create, equals, toBinary, fromBinary } from '@bufbuild/protobuf';
import { Code, SecaggError } from '@secagg/core';
import { chooseScaleBits, ciphertextByteLength, ciphertextCount, DEFAULT_PRESET, isPresetName, valuesPerCiphertext, type CkksParams } from '@secagg/ckks';
import { checkRoundConfig, checkRoundId, encodingEnum, encodingName } from '@secagg/protocol';
import {
  CkksParametersSchema,
  CreateRoundKeyResponseSchema,
  Encoding,
  RoundConfigSchema,
  type CreateRoundKeyRequest,
  type CreateRoundKeyResponse,
} from '@secagg/proto';
import type { KeyholderContext } from '../keyholder-context.js';

export async function createRoundKey(request: CreateRoundKeyRequest, deps: KeyholderContext): Promise<CreateRoundKeyResponse> {
  const { config: settings, store, sealer, engines, clock } = deps;
  const roundId = checkRoundId(request.roundId);
  const config = checkRoundConfig(request.config, settings, clock());
  if (config.unsafeDisableNoise && !settings.allowUnsafeNoiseFreeRelease) {
    throw new SecaggError(Code.FailedPrecondition, 'noise-free releases are not allowed by this keyholder (test-only setting)', {
      errorCode: 'unsafe_release_refused',
    });
  }

  const existing = store.getRoundKey(roundId);
  if (existing) {
    if (!equals(RoundConfigSchema, fromBinary(RoundConfigSchema, existing.config), config)) {
      throw new SecaggError(Code.AlreadyExists, `round ${roundId} already has a key with another configuration`);
    }
    return create(CreateRoundKeyResponseSchema, {
      ckks: fromBinary(CkksParametersSchema, existing.ckks),
      publicKey: existing.publicKey,
    });
  }

  const preset = config.preset === '' ? DEFAULT_PRESET : config.preset;
  if (!isPresetName(preset)) throw new SecaggError(Code.InvalidArgument, `config.preset "${preset}" is unknown`);
  const encoding = encodingName(config.encoding === Encoding.UNSPECIFIED ? deps.defaultEncoding : config.encoding);
  let scaleBits: number;
  try {
    scaleBits = chooseScaleBits(preset, encoding, config.maxClients, config.clipNorm);
  } catch (error) {
    throw new SecaggError(Code.FailedPrecondition, `no safe encoding scale: ${(error as Error).message}`, { cause: error });
  }
  const params: CkksParams = { preset, encoding, scaleBits };
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
  deps.logger.info({ roundId, preset, encoding, scaleBits }, 'round key created');
  return create(CreateRoundKeyResponseSchema, { ckks, publicKey });
}
