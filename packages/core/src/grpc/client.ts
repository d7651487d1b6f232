/**
 * Promise and async-iterator clients for protobuf-es services over grpc-js.
 * Errors arrive as SecaggError with the peer's status code and message, so
 * callers handle local and remote failures alike.
 */
import * as grpc from '@grpc/grpc-js';
import { Code, SecaggError } from '../errors.js';
import { REASON_HEADER, RETRY_AFTER_HEADER } from '../reasons.js';
import { grpcServiceDefinition } from './service-definition.js';
import { REQUEST_ID_HEADER, type AnyService, type CallContext, type CallOptions, type ServiceClient } from './types.js';

/** Converts a grpc-js error into a SecaggError (keeps `secagg-reason` and `retry-after-ms`). */
export function fromServiceError(error: unknown): SecaggError {
  if (error instanceof SecaggError) return error;
  const e = error as Partial<grpc.ServiceError>;
  if (typeof e?.code === 'number') {
    const retry = e.metadata?.get(RETRY_AFTER_HEADER)[0];
    const reason = e.metadata?.get(REASON_HEADER)[0];
    return new SecaggError(e.code as number as Code, e.details ?? e.message ?? 'error', {
      cause: error,
      retryAfterMs: retry === undefined ? undefined : Number(retry),
      reason: typeof reason === 'string' && /^[a-z0-9_]{1,64}$/.test(reason) ? reason : undefined,
    });
  }
  return new SecaggError(Code.Unknown, String((error as Error)?.message ?? error), { cause: error });
}

function grpcOptions(options: CallOptions | undefined): grpc.CallOptions {
  const deadline = options?.deadline;
  return deadline === undefined ? {} : { deadline: typeof deadline === 'number' ? Date.now() + deadline : deadline };
}

function attachSignal(call: grpc.Call, signal: AbortSignal | undefined): void {
  if (!signal) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener('abort', () => call.cancel(), { once: true });
}

/** Writes `requests` to a client-writable call, waiting on 'drain' (never buffers without bound). */
async function pump(
  call: grpc.ClientWritableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>,
  requests: AsyncIterable<unknown> | Iterable<unknown>,
  failed: Promise<never>,
): Promise<void> {
  for await (const request of requests as AsyncIterable<unknown>) {
    await Promise.race([Promise.resolve(), failed]);
    if (!call.write(request)) {
      await Promise.race([new Promise((resolve) => call.once('drain', resolve)), failed]);
    }
  }
  call.end();
}

export interface ClientSettings {
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** A client for `service` at `address` (host:port). */
export function createClient<S extends AnyService>(
  service: S,
  address: string,
  settings: ClientSettings,
): ServiceClient<S> {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
  const raw = new Ctor(address, settings.credentials, settings.channelOptions) as unknown as grpc.Client &
    Record<string, (...args: unknown[]) => grpc.Call>;
  const client: Record<string, unknown> = { raw, close: () => raw.close() };

  for (const method of service.methods) {
    const invoke = raw[method.localName]!.bind(raw);
    switch (method.methodKind) {
      case 'unary':
        client[method.localName] = (request: unknown, options?: CallOptions) =>
          new Promise((resolve, reject) => {
            const call = invoke(request, options?.metadata ?? new grpc.Metadata(), grpcOptions(options), (e: unknown, r: unknown) =>
              e ? reject(fromServiceError(e)) : resolve(r),
            );
            attachSignal(call, options?.signal);
          });
        break;
      case 'client_streaming':
        client[method.localName] = (requests: AsyncIterable<unknown>, options?: CallOptions) => {
          let call!: grpc.ClientWritableStream<unknown>;
          const response = new Promise((resolve, reject) => {
            call = invoke(options?.metadata ?? new grpc.Metadata(), grpcOptions(options), (e: unknown, r: unknown) =>
              e ? reject(fromServiceError(e)) : resolve(r),
            ) as grpc.ClientWritableStream<unknown>;
          });
          attachSignal(call, options?.signal);
          // Once the server has answered (early, with an error), stop writing.
          const answered = new Promise<never>((_, reject) => {
            const stop = () => reject(ANSWERED);
            response.then(stop, stop);
          });
          answered.catch(() => {});
          const writing = pump(call, requests, answered).catch((error: unknown) => {
            if (error === ANSWERED) return;
            call.cancel();
            throw error;
          });
          return Promise.all([writing, response]).then(([, r]) => r);
        };
        break;
      case 'server_streaming':
        client[method.localName] = (request: unknown, options?: CallOptions) => {
          const call = invoke(request, options?.metadata ?? new grpc.Metadata(), grpcOptions(options)) as grpc.ClientReadableStream<unknown>;
          attachSignal(call, options?.signal);
          return readAll(call);
        };
        break;
      case 'bidi_streaming':
        client[method.localName] = (requests: AsyncIterable<unknown>, options?: CallOptions) => {
          const call = invoke(options?.metadata ?? new grpc.Metadata(), grpcOptions(options)) as grpc.ClientDuplexStream<unknown, unknown>;
          attachSignal(call, options?.signal);
          const failed = new Promise<never>((_, reject) => call.once('error', reject));
          failed.catch(() => {});
          pump(call, requests, failed).catch(() => call.cancel());
          return readAll(call);
        };
        break;
    }
  }
  return client as ServiceClient<S>;
}

const ANSWERED = Symbol('answered');

async function* readAll(call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): AsyncGenerator<unknown> {
  try {
    for await (const message of call) yield message;
  } catch (error) {
    throw fromServiceError(error);
  } finally {
    call.cancel();
  }
}

/** Metadata for a call made while serving `ctx`: carries its request id so the callee's logs correlate. */
export function forwardedMetadata(ctx: Pick<CallContext, 'requestId'>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(REQUEST_ID_HEADER, ctx.requestId);
  return metadata;
}
