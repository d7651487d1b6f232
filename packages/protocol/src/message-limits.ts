/**
 * Message sizes of the client contract, computed from the CKKS presets and
 * the protobuf encoding rather than guessed: the gateway's receive limit and
 * the largest result message.
 *
 * grpc-js has one receive limit per server (`grpc.max_receive_message_length`),
 * not one per method, so the gateway's limit is the largest message any method
 * needs: an upload chunk frame carrying one ciphertext of the largest preset.
 * Every other request is tiny; what keeps them from costing that much each is
 * the gateway's call guard (authentication before any message is read, a bound
 * on calls in flight, a deadline to receive the request).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ciphertextByteLength, PRESETS, type PresetName } from '@secagg/ckks';
import { GetResultResponseSchema, SubmitUpdateRequestSchema } from '@secagg/proto';

/** Bytes of the largest ciphertext any preset produces (either encoding: the ciphertext size does not depend on it). */
export function largestCiphertextBytes(): number {
  return Math.max(
    ...(Object.keys(PRESETS) as PresetName[]).map((preset) => ciphertextByteLength({ preset, encoding: 'coefficients', scaleBits: 20 })),
  );
}

/**
 * Serialized size of the largest SubmitUpdate frame: a chunk with the largest
 * ciphertext and the largest index (a uint32 varint is longest at 2^32 - 1).
 * Header and trailer frames are far smaller (ids of <= 64 characters, 32 bytes).
 */
export function maxUploadFrameBytes(): number {
  const frame = create(SubmitUpdateRequestSchema, {
    frame: { case: 'chunk', value: { index: 0xffff_ffff, ciphertext: new Uint8Array(largestCiphertextBytes()) } },
  });
  return toBinary(SubmitUpdateRequestSchema, frame).length;
}

/**
 * A stock gRPC client's receive limit (grpc-java, grpcio, grpc-go and grpc-js
 * all default to 4 MiB): every message the gateway sends must fit it.
 */
export const STOCK_RECEIVE_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * Most values in one GetResult message. A values message carries the sum and
 * the mean as float64 (16 bytes per value) plus its offset and framing:
 * 131,072 values are 2,097,152 bytes of payload and about 2.1 MB serialized (resultMessageBytes) —
 * half the stock limit, so a client's own metadata and any framing growth fit
 * too (262,144 values, the former maximum, were 4,194,319 bytes: 15 over it).
 */
export const MAX_RESULT_VALUES_PER_MESSAGE = 131_072;

/** Serialized size of a GetResult values message of `values` values at the largest offset. */
export function resultMessageBytes(values: number): number {
  const payload = new Uint8Array(values * 8);
  const message = create(GetResultResponseSchema, {
    frame: { case: 'values', value: { offset: 0xffff_ffff, sumF64le: payload, meanF64le: payload } },
  });
  return toBinary(GetResultResponseSchema, message).length;
}

/**
 * The gateway's HTTP/2 receive window per stream, by default (issue 11,
 * item 3; `GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES`): 1 MiB, at least twice the
 * largest upload frame (393,343 bytes). node:http2 returns a stream's window
 * as its data is read, in WINDOW_UPDATEs sent once half the window has been
 * read, so a sender whose stream is being read always holds at least half the
 * window of credit: with 1 MiB that is more than one whole frame of the
 * largest preset, and no frame waits for a window update. (grpc-js's own
 * 65,535-byte default is smaller than one 65,649-byte frame of the default
 * preset, so every frame waited.)
 *
 * Not larger, because the window is also what a stream may hold unread in
 * the gateway (a call waiting for its token check, an upload waiting for a
 * slot): docs/SECURITY.md "Limits" multiplies it by the calls and uploads that
 * may wait at once.
 */
export const DEFAULT_HTTP2_RECEIVE_WINDOW_BYTES = 1024 * 1024;
