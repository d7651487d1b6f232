/**
 * Serving protobuf-es services with grpc-js, with one error boundary.
 *
 * grpc-js sends a plain Error's message to the client as UNKNOWN; here every
 * handler is wrapped: a SecaggError becomes its status and message, anything
 * else becomes INTERNAL with a bland message, and the cause is logged.
 */
import type { Duplex, Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Code, SecaggError, codeName, refuse } from '../errors.js';
import { isReason, REASON_HEADER, RETRY_AFTER_HEADER } from '../reasons.js';
import { grpcServiceDefinition, MalformedMessage, methodPath } from './service-definition.js';
import { REQUEST_ID_HEADER, type AnyService, type CallContext, type ServiceHandlers } from './types.js';
import type { CallPolicy } from './call-policy.js';

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & {
  getAuthContext?: () => { sslPeerCertificate?: import('node:tls').PeerCertificate };
  cancelled?: boolean;
};

/** Observes every call's outcome (metrics, access logs). */
/**
 * `reason` is the SecaggError's reason for a refused call (the lower-case status name for an error
 * relayed without one), 'internal' for an unexpected error, '' for OK.
 */
export type CallObserver = (method: string, code: Code, durationMs: number, reason: string) => void;

export interface ServeOptions {
  logger: Logger;
  onCallEnd?: CallObserver;
}

/**
 * The status a refused call is answered with: the SecaggError's code and
 * message, its reason in `secagg-reason` (when it is one of the table's: a
 * reason relayed from a peer of another version is not repeated) and its
 * retry hint in `retry-after-ms`. The one encoding of a refusal on the wire,
 * shared with the gateway's pre-read call guard.
 */
export function refusalStatus(error: SecaggError): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  if (isReason(error.reason)) metadata.set(REASON_HEADER, error.reason);
  if (error.retryAfterMs !== undefined) metadata.set(RETRY_AFTER_HEADER, String(Math.ceil(error.retryAfterMs)));
  return { code: error.code as number as grpc.status, details: error.message, metadata };
}

function statusOf(error: unknown, method: string, logger: Logger): grpc.StatusObject {
  if (error instanceof SecaggError) {
    if (error.code === Code.Internal || error.code === Code.Unknown || error.code === Code.DataLoss) {
      logger.error({ err: error.cause ?? error, method, reason: error.reason }, 'call failed');
    } else {
      logger.debug({ method, code: codeName(error.code), reason: error.reason, details: error.message }, 'call refused');
    }
    return refusalStatus(error);
  }
  logger.error({ err: error, method }, 'unexpected error in handler');
  return refusalStatus(refuse('internal', 'internal error'));
}

/** A caller's `x-request-id` when it is a sane token, else a fresh one: the id every log line of the call carries. */
function requestIdOf(metadata: grpc.Metadata): string {
  const given = metadata.get(REQUEST_ID_HEADER)[0];
  return typeof given === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(given) ? given : randomUUID();
}

function contextOf(call: AnyCall, method: string, signal: AbortSignal, trailers: grpc.Metadata, logger: Logger): CallContext {
  const requestId = requestIdOf(call.metadata);
  trailers.set(REQUEST_ID_HEADER, requestId);
  let peerCertificate: import('node:tls').PeerCertificate | undefined;
  try {
    const cert = call.getAuthContext?.().sslPeerCertificate;
    peerCertificate = cert && Object.keys(cert).length > 0 ? cert : undefined;
  } catch {
    peerCertificate = undefined;
  }
  return {
    method,
    metadata: call.metadata,
    peer: call.getPeer(),
    signal,
    peerCertificate,
    trailers,
    requestId,
    logger: logger.child({ requestId, method: method.slice(method.lastIndexOf('/') + 1) }),
  };
}

/** An AbortSignal that fires when the call is cancelled or the client goes away. */
function cancellationOf(call: { on(event: "cancelled", listener: () => void): unknown }): AbortController {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(refuse('cancelled', 'call cancelled by the client')));
  return controller;
}

async function writeAll(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  messages: AsyncIterable<unknown>,
  signal: AbortSignal,
): Promise<void> {
  for await (const message of messages) {
    if (signal.aborted) return;
    if (!call.write(message)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off('drain', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        call.on('drain', done);
        signal.addEventListener('abort', done);
      });
    }
  }
}

function malformed(message: MalformedMessage): SecaggError {
  return refuse('malformed_message', `malformed ${message.typeName}: ${message.reason}`);
}

/** The request of a unary or server-streaming call, or INVALID_ARGUMENT when it did not parse. */
function parsedRequest(request: unknown): unknown {
  if (request instanceof MalformedMessage) throw malformed(request);
  return request;
}

/**
 * The request stream of a client- or bidi-streaming call, throwing
 * INVALID_ARGUMENT at the first message that did not parse.
 *
 * `return()` (a handler that stops reading: idle timeout, early error)
 * destroys the read side at once instead of delegating to the stream's own
 * iterator: Node's Readable iterator is an async generator, whose `return()`
 * waits for a pending `next()` — that is, for a quiet client to send
 * something — so the handler, and all it holds, would hang until the client
 * went away. (A bidi call's stream is also its response side, so there the
 * iterator is only told to stop, not destroyed.)
 */
function parsedStream(call: Readable & AsyncIterable<unknown>): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const inner = call[Symbol.asyncIterator]();
      return {
        async next() {
          const result = await inner.next();
          if (!result.done && result.value instanceof MalformedMessage) throw malformed(result.value);
          return result;
        },
        return: async (value?: unknown) => {
          // A bidi call is one Duplex: destroying it would also end the responses.
          if (typeof (call as Partial<Duplex>).write === 'function') void inner.return?.()?.catch(() => {});
          else call.destroy();
          return { done: true as const, value };
        },
      };
    },
  };
}

/**
 * The request stream with `check` run on its first message before the
 * handler sees it (the call policy's round scope of a client stream);
 * `return()` is passed on, so parsedStream's prompt release still holds.
 */
function checkedFirst(stream: AsyncIterable<unknown>, check: (first: unknown) => void): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      const inner = stream[Symbol.asyncIterator]();
      let first = true;
      return {
        async next() {
          const result = await inner.next();
          // An empty stream names nothing to check; the handler refuses it.
          if (first && !result.done) check(result.value);
          first = false;
          return result;
        },
        return: async (value?: unknown) => (await inner.return?.(value)) ?? { done: true as const, value },
      };
    },
  };
}

/**
 * Registers `handlers` for `service` on `server`, each behind `policy` (who
 * may call it: call-policy.ts) and the error boundary. A unary or
 * server-streaming request is parsed, then the policy admits the call and
 * inspects the request; a client or bidi stream is admitted before its first
 * message is read, and that message inspected before the handler sees it.
 */
export function addService<S extends AnyService, Extra extends object>(
  server: grpc.Server,
  service: S,
  policy: CallPolicy<S, Extra>,
  handlers: ServiceHandlers<S, CallContext & Extra>,
  options: ServeOptions,
): void {
  const implementation: grpc.UntypedServiceImplementation = {};
  const { logger, onCallEnd } = options;
  for (const method of service.methods) {
    const path = methodPath(method);
    const handler = (handlers as Record<string, (...args: unknown[]) => unknown>)[method.localName];
    if (!handler) throw new Error(`no handler for ${path}`);
    const finish = (start: number, code: Code, error?: unknown) =>
      onCallEnd?.(path, code, performance.now() - start, error === undefined ? '' : error instanceof SecaggError ? error.reason || codeName(error.code).toLowerCase() : 'internal');
    const streamsRequests = method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming';
    /** The handler's input and context once the policy admitted the call. */
    const admitted = async (call: AnyCall, ctx: CallContext): Promise<[unknown, CallContext & Extra]> => {
      if (streamsRequests) {
        const full = { ...ctx, ...(await policy.admit(method, ctx)) };
        const requests = parsedStream(call as unknown as Readable & AsyncIterable<unknown>);
        return [checkedFirst(requests, (first) => policy.inspect(method, first, full)), full];
      }
      const request = parsedRequest(call.request);
      const full = { ...ctx, ...(await policy.admit(method, ctx)) };
      policy.inspect(method, request, full);
      return [request, full];
    };

    switch (method.methodKind) {
      case 'unary':
      case 'client_streaming':
        implementation[method.localName] = (call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
          const start = performance.now();
          const controller = cancellationOf(call);
          const trailers = new grpc.Metadata();
          const ctx = contextOf(call, path, controller.signal, trailers, logger);
          admitted(call, ctx)
            .then(([input, full]) => handler(input, full))
            .then(
              (response) => {
                finish(start, Code.Ok);
                callback(null, response, trailers);
              },
              (error: unknown) => {
                const status = statusOf(error, path, ctx.logger);
                finish(start, status.code as number as Code, error);
                callback(status);
              },
            );
        };
        break;
      case 'server_streaming':
      case 'bidi_streaming':
        implementation[method.localName] = (
          call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
        ) => {
          const start = performance.now();
          const controller = cancellationOf(call);
          const trailers = new grpc.Metadata();
          const ctx = contextOf(call as unknown as AnyCall, path, controller.signal, trailers, logger);
          admitted(call as unknown as AnyCall, ctx)
            .then(([input, full]) => writeAll(call, handler(input, full) as AsyncIterable<unknown>, controller.signal))
            .then(
              () => {
                finish(start, Code.Ok);
                call.end(trailers);
              },
              (error: unknown) => {
                const status = statusOf(error, path, ctx.logger);
                finish(start, status.code as number as Code, error);
                call.emit('error', status);
              },
            );
        };
        break;
    }
  }
  server.addService(grpcServiceDefinition(service), implementation);
}

/** Binds `server` to `address` (port 0 picks a free port) and returns the port. */
export function bindServer(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** Stops accepting calls and waits up to `graceMs` for running calls, then forces the rest. */
export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
