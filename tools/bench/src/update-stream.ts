/**
 * Streaming an update's frames (header, ciphertext chunks, trailer) to a
 * ClientService.SubmitUpdate endpoint — the gateway, or the benchmark's sink
 * server. One code path for both, so the transport limit and the system
 * figure pay exactly the same client-side costs (protobuf-es serialization,
 * grpc-js framing, TLS, backpressure via the core adapter's pump).
 */
import * as grpc from '@grpc/grpc-js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createClient, type ServiceClient } from '@secagg/core';
import { ClientService, type SubmitUpdateRequestSchema, type SubmitUpdateResponse } from '@secagg/proto';

/**
 * The SDK's message limits, plus a local subchannel pool: by default grpc-js
 * shares one connection among all clients of a process with the same target,
 * but the benchmark's clients stand for separate devices, each with its own
 * connection (and its own HTTP/2 flow-control window).
 */
export const INGEST_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.use_local_subchannel_pool': 1,
  // The development certificates name localhost too; an IP as TLS server name draws a node deprecation warning.
  'grpc.ssl_target_name_override': 'localhost',
};

export type IngestClient = ServiceClient<typeof ClientService>;

/** A ClientService client with its own connection. */
export function ingestClient(address: string, credentials: grpc.ChannelCredentials): IngestClient {
  return createClient(ClientService, address, { credentials, channelOptions: INGEST_CHANNEL_OPTIONS });
}

export interface UpdateFrames {
  roundId: string;
  updateId: string;
  vectorLength: number;
  /** Ciphertexts in index order (may be lazy, e.g. time-bound for the transport limit). */
  chunks: Iterable<Uint8Array>;
  /** The trailer's digest; the sink ignores it. */
  sha256: Uint8Array;
  /** The header's ciphertext_count. */
  ciphertextCount: number;
}

export interface StreamOutcome {
  response: SubmitUpdateResponse;
  /** Ciphertext payload bytes sent (the figure every MB/s of the benchmark counts). */
  payloadBytes: number;
  chunks: number;
}

type Frame = MessageInitShape<typeof SubmitUpdateRequestSchema>;

/** Streams one update and resolves once the server answers (for the gateway: once it is committed). */
export async function streamUpdate(client: IngestClient, update: UpdateFrames, metadata?: grpc.Metadata): Promise<StreamOutcome> {
  let payloadBytes = 0;
  let chunks = 0;
  function* frames(): Generator<Frame> {
    yield {
      frame: {
        case: 'header',
        value: { roundId: update.roundId, updateId: update.updateId, vectorLength: update.vectorLength, ciphertextCount: update.ciphertextCount },
      },
    };
    for (const ciphertext of update.chunks) {
      yield { frame: { case: 'chunk', value: { index: chunks, ciphertext } } };
      payloadBytes += ciphertext.byteLength;
      chunks++;
    }
    yield { frame: { case: 'trailer', value: { sha256: update.sha256 } } };
  }
  const response = await client.submitUpdate(frames(), metadata ? { metadata } : {});
  return { response, payloadBytes, chunks };
}
