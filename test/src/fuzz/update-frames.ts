/**
 * Honest update streams built by hand (the SDK hides its ciphertexts): the
 * tests encrypt a known vector under a round's public key, keep every
 * ciphertext byte, and build the header / chunk / trailer frames themselves,
 * as messages or as serialized bytes for the raw client.
 */
import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { CkksEngine, encryptVector } from '@secagg/ckks';
import { formatOf, toCkksParams } from '@secagg/protocol';
import { SubmitUpdateRequestSchema, type GetRoundResponse, type SubmitUpdateRequest } from '@secagg/proto';
import type { CiphertextFormat } from '@secagg/ckks';

/** A round as a client sees it, with what is needed to encrypt for it. */
export interface RoundForUpload {
  roundId: string;
  vectorLength: number;
  ciphertextCount: number;
  valuesPerCiphertext: number;
  format: CiphertextFormat;
  /** Encrypts `values` (already clipped) under the round's public key. */
  encrypt(values: Float64Array): Uint8Array[];
  dispose(): void;
}

/** Builds a {@link RoundForUpload} from a GetRound response. */
export async function roundForUpload(response: GetRoundResponse): Promise<RoundForUpload> {
  const round = response.round!;
  const params = toCkksParams(round.ckks!);
  const engine = await CkksEngine.create(params);
  const encryptor = engine.createEncryptor(response.publicKey);
  return {
    roundId: round.roundId,
    vectorLength: round.config!.vectorLength,
    ciphertextCount: round.ckks!.ciphertextCount,
    valuesPerCiphertext: round.ckks!.valuesPerCiphertext,
    format: formatOf(round.ckks!),
    encrypt: (values) => [...encryptVector(encryptor, params, values)],
    dispose: () => engine.dispose(),
  };
}

export function sha256Of(ciphertexts: readonly Uint8Array[]): Uint8Array {
  const digest = createHash('sha256');
  for (const c of ciphertexts) digest.update(c);
  return digest.digest();
}

export const headerFrame = (roundId: string, updateId: string, vectorLength: number, ciphertextCount: number): SubmitUpdateRequest =>
  create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId, updateId, vectorLength, ciphertextCount } } });

export const chunkFrame = (index: number, ciphertext: Uint8Array): SubmitUpdateRequest =>
  create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index, ciphertext } } });

export const trailerFrame = (sha256: Uint8Array): SubmitUpdateRequest =>
  create(SubmitUpdateRequestSchema, { frame: { case: 'trailer', value: { sha256 } } });

/** The frames of an honest upload of `ciphertexts`. */
export function honestFrames(round: Pick<RoundForUpload, 'roundId' | 'vectorLength'>, updateId: string, ciphertexts: readonly Uint8Array[]): SubmitUpdateRequest[] {
  return [
    headerFrame(round.roundId, updateId, round.vectorLength, ciphertexts.length),
    ...ciphertexts.map((c, i) => chunkFrame(i, c)),
    trailerFrame(sha256Of(ciphertexts)),
  ];
}

export const serialize = (frame: SubmitUpdateRequest): Uint8Array => toBinary(SubmitUpdateRequestSchema, frame);
