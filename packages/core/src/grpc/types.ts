/** Types that map a generated protobuf-es service to handler and client shapes. */
import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type * as grpc from '@grpc/grpc-js';

export type AnyService = GenService<GenServiceMethods>;
export type MethodShape = { methodKind: string; input: DescMessage; output: DescMessage };

/** What a handler learns about its call. */
export interface CallContext {
  /** The gRPC method path, e.g. `/secagg.client.v1.ClientService/GetRound`. */
  readonly method: string;
  readonly metadata: grpc.Metadata;
  /** `ip:port` of the peer. */
  readonly peer: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The verified TLS peer certificate, when the listener uses mutual TLS. */
  readonly peerCertificate: import('node:tls').PeerCertificate | undefined;
  /** Metadata sent with the response trailers (set before the handler returns). */
  readonly trailers: grpc.Metadata;
  /** Correlates the logs of this call across services (`x-request-id`; forwarded on calls it makes). */
  readonly requestId: string;
  /** The service logger bound to requestId and method. */
  readonly logger: import('pino').Logger;
}

/** Metadata key that carries the request id across services. */
export const REQUEST_ID_HEADER = 'x-request-id';

type In<M extends MethodShape> = MessageShape<M['input']>;
type Out<M extends MethodShape> = MessageInitShape<M['output']>;

/** A method's implementation; `Ctx` is the call context as the service's call policy extends it (e.g. with the caller). */
export type MethodHandler<M extends MethodShape, Ctx extends CallContext = CallContext> = M['methodKind'] extends 'unary'
  ? (request: In<M>, ctx: Ctx) => Promise<Out<M>>
  : M['methodKind'] extends 'client_streaming'
    ? (requests: AsyncIterable<In<M>>, ctx: Ctx) => Promise<Out<M>>
    : M['methodKind'] extends 'server_streaming'
      ? (request: In<M>, ctx: Ctx) => AsyncIterable<Out<M>>
      : (requests: AsyncIterable<In<M>>, ctx: Ctx) => AsyncIterable<Out<M>>;

/** An implementation of every method of `S`, Connect-ES style: async functions and async iterables. */
export type ServiceHandlers<S extends AnyService, Ctx extends CallContext = CallContext> = {
  [K in keyof S['method']]: MethodHandler<S['method'][K], Ctx>;
};

export interface CallOptions {
  /** Absolute deadline or milliseconds from now. */
  deadline?: Date | number;
  metadata?: grpc.Metadata;
  signal?: AbortSignal;
}

type COut<M extends MethodShape> = MessageShape<M['output']>;
type CIn<M extends MethodShape> = MessageInitShape<M['input']>;

export type MethodClient<M extends MethodShape> = M['methodKind'] extends 'unary'
  ? (request: CIn<M>, options?: CallOptions) => Promise<COut<M>>
  : M['methodKind'] extends 'client_streaming'
    ? (requests: AsyncIterable<CIn<M>> | Iterable<CIn<M>>, options?: CallOptions) => Promise<COut<M>>
    : M['methodKind'] extends 'server_streaming'
      ? (request: CIn<M>, options?: CallOptions) => AsyncIterable<COut<M>>
      : (requests: AsyncIterable<CIn<M>> | Iterable<CIn<M>>, options?: CallOptions) => AsyncIterable<COut<M>>;

/** A promise-based client of every method of `S`. */
export type ServiceClient<S extends AnyService> = {
  [K in keyof S['method']]: MethodClient<S['method'][K]>;
} & { close(): void; readonly raw: grpc.Client };
