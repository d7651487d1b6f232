/**
 * A gRPC client that sends and receives raw bytes: identity (de)serializers
 * instead of protobuf-es, so a test can put on the wire what protobuf-es would
 * never produce (truncated varints, wrong wire types, unknown fields, invalid
 * UTF-8) and see exactly which status the server answers with.
 */
import * as grpc from '@grpc/grpc-js';
import { Code, codeName, methodPath } from '@secagg/core';
import type { DescMethod } from '@bufbuild/protobuf';

/** What a call ended with: the status, and every response message (raw). */
export interface RawOutcome {
  code: Code;
  details: string;
  responses: Buffer[];
}

/** How a client stream ends once its messages are written. */
export type StreamEnding =
  /** Half-close: the normal end of an upload. */
  | { kind: 'half-close' }
  /** The client cancels the call (a cut connection, as the server sees it). */
  | { kind: 'cancel' }
  /** The client neither finishes nor cancels: the server's idle timeout must end it. */
  | { kind: 'idle' };

const identity = (bytes: Buffer): Buffer => bytes;
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** `INVALID_ARGUMENT: details` (for assertion messages). */
export function describeOutcome(outcome: RawOutcome): string {
  return `${codeName(outcome.code)}: ${outcome.details}`;
}

export class RawGrpcClient {
  private readonly client: grpc.Client;

  constructor(address: string, credentials: grpc.ChannelCredentials) {
    this.client = new grpc.Client(address, credentials, {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    });
  }

  close(): void {
    this.client.close();
  }

  /** One request, one response. */
  unary(method: DescMethod, request: Uint8Array, metadata: grpc.Metadata, deadlineMs = 30_000): Promise<RawOutcome> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        methodPath(method),
        identity,
        identity,
        Buffer.from(request),
        metadata,
        { deadline: Date.now() + deadlineMs },
        (error, response) => resolve(error ? failure(error) : { code: Code.Ok, details: '', responses: response ? [response] : [] }),
      );
    });
  }

  /** One request, a stream of responses (read to the end). */
  serverStream(method: DescMethod, request: Uint8Array, metadata: grpc.Metadata, deadlineMs = 30_000): Promise<RawOutcome> {
    return new Promise((resolve) => {
      const responses: Buffer[] = [];
      const call = this.client.makeServerStreamRequest(methodPath(method), identity, identity, Buffer.from(request), metadata, {
        deadline: Date.now() + deadlineMs,
      });
      call.on('data', (message: Buffer) => responses.push(message));
      call.on('error', (error: grpc.ServiceError) => resolve({ ...failure(error), responses }));
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) resolve({ code: Code.Ok, details: '', responses });
      });
    });
  }

  /**
   * A stream of requests, one response. Writes `messages` in order (waiting
   * on backpressure, and stopping early once the server has answered), then
   * ends the call as `ending` says.
   */
  clientStream(
    method: DescMethod,
    messages: readonly Uint8Array[],
    metadata: grpc.Metadata,
    ending: StreamEnding,
    deadlineMs = 30_000,
  ): Promise<RawOutcome> {
    return new Promise((resolve) => {
      let answered = false;
      const call = this.client.makeClientStreamRequest(methodPath(method), identity, identity, metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        answered = true;
        resolve(error ? failure(error) : { code: Code.Ok, details: '', responses: response ? [response] : [] });
      });
      call.on('error', () => {}); // the callback carries the status
      void (async () => {
        for (const message of messages) {
          if (answered) return;
          if (!call.write(Buffer.from(message))) {
            await new Promise<void>((drained) => {
              const done = () => {
                clearInterval(poll);
                drained();
              };
              call.once('drain', done);
              // Stop waiting once the server has answered (no drain comes then).
              const poll = setInterval(() => answered && done(), 20);
            });
          }
        }
        if (answered) return;
        if (ending.kind === 'half-close') call.end();
        else if (ending.kind === 'cancel') call.cancel();
        // 'idle': keep the call open and let the server give up.
      })();
    });
  }

  /** A stream each way: writes `messages`, half-closes, and reads every response. */
  bidiStream(method: DescMethod, messages: readonly Uint8Array[], metadata: grpc.Metadata, deadlineMs = 30_000): Promise<RawOutcome> {
    return new Promise((resolve) => {
      const responses: Buffer[] = [];
      const call = this.client.makeBidiStreamRequest(methodPath(method), identity, identity, metadata, { deadline: Date.now() + deadlineMs });
      let settled = false;
      call.on('data', (message: Buffer) => responses.push(message));
      call.on('error', (error: grpc.ServiceError) => {
        settled = true;
        resolve({ ...failure(error), responses });
      });
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) {
          settled = true;
          resolve({ code: Code.Ok, details: '', responses });
        }
      });
      void (async () => {
        for (const message of messages) {
          if (settled) return;
          if (!call.write(Buffer.from(message))) await new Promise((drained) => call.once('drain', drained));
        }
        call.end();
      })();
    });
  }
}

function failure(error: grpc.ServiceError | Error): RawOutcome {
  const e = error as Partial<grpc.ServiceError>;
  return { code: (typeof e.code === 'number' ? e.code : Code.Unknown) as Code, details: e.details ?? error.message, responses: [] };
}

/** Metadata carrying `authorization: Bearer <token>` (or nothing when token is undefined). */
export function bearer(token: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}
